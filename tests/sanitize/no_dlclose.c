// Preloaded into every process of a sanitizer run (scripts/sanitize.sh): dlclose does nothing.
// Open MPI and PMIx unload their components (mca_*.so) in MPI_Finalize, before the leak check
// runs at exit; the leak reports then show "<unknown module>" frames, which no suppression can
// name, and memory that only the unloaded components still pointed to counts as leaked.
// Keeping every library mapped keeps the reports symbolised and the suppressions precise.
int dlclose(void* handle) {
  (void)handle;
  return 0;
}
