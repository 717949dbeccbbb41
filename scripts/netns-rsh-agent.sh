#!/bin/bash
# rsh agent for Open MPI (plm_rsh_agent) that "logs in" to a pretend host made by
# netns-hosts.sh: the host name is the network namespace, and the command runs there with its
# own hostname (a private UTS namespace), as ssh would run it on a real host.
set -eu
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done  # ssh-style options, if any
host=$1
shift
exec ip netns exec "$host" unshare --uts /bin/sh -c "hostname '$host' && exec /bin/sh -c \"\$0\"" "$*"
