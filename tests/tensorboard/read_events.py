"""Reads gan_dist's TensorBoard event files with TensorBoard's own loaders and checks them.

Run with the project's virtual environment (scripts/install-deps.sh installs tensorboard there):

  read_events.py check EXPECTED.json LOGDIR
      Every scalar, image and text of EXPECTED (written by tests/tensorboard/tensorboard_test.cpp)
      is read back, through the EventAccumulator and through the data provider that the
      TensorBoard server uses, at its step and nothing else is there; no (tag, step) appears
      twice in the raw records of all files; each file starts with the file version.
  read_events.py corrupt FILE GOOD_RECORDS PHRASE [BAD_STEP]
      TensorBoard's record reader rejects record GOOD_RECORDS of FILE with a DataLossError
      whose message holds PHRASE; its loaders yield the records before it and nothing of it
      (no scalar at BAD_STEP).
  read_events.py metrics METRICS.jsonl LOGDIR [PREFIX]
      Every number of every metrics.jsonl line (but "step") is the scalar PREFIX+key at that
      step (null, how the JSON writer spells NaN and infinities, matches a non-finite value),
      no such tag has a step the file does not have, and no (tag, step) appears twice in the
      raw records of all files.
  read_events.py samples SAMPLES_DIR LOGDIR TAG
      Each SAMPLES_DIR/step-NNNNNNN.png is the image TAG at step N, decoded to the same pixels,
      and TAG has no other step.

Exit 0: all held; 1: a check failed (the message says which); 3: no TensorBoard here.
"""

import io
import json
import logging
import math
import os
import sys

try:
    import numpy as np
    from PIL import Image
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.compat import tf
    from tensorboard.compat.proto import event_pb2
    from tensorboard.util import tensor_util
    import tensorboard
except ImportError as e:
    print(
        f"FAIL: {sys.executable} has no TensorBoard reader ({e}): run scripts/install-deps.sh, "
        "which creates the project's .venv with tensorboard, numpy and pillow",
        file=sys.stderr,
    )
    sys.exit(3)

EVERYTHING = {ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0}
failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 20:
        print("FAIL:", msg)


def f32_same(want, got):
    """Equal as float32 bit patterns (so -0.0 != 0.0); any NaN matches any NaN."""
    with np.errstate(over="ignore"):  # a double beyond float32 is +-inf there, as written
        a, b = np.float32(want), np.float32(got)
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return a.tobytes() == b.tobytes()


def event_files(logdir):
    return sorted(
        os.path.join(logdir, f) for f in os.listdir(logdir) if "tfevents" in f
    )


def load_expected(path):
    with open(path) as f:
        exp = json.load(f)
    scalars = {}
    for tag, step, hexval in exp.get("scalars", []):
        key = (tag, int(step))
        if key in scalars:
            raise SystemExit(f"expected file lists {key} twice")
        scalars[key] = float.fromhex(hexval)
    return exp, scalars


def check_raw(logdir, exp):
    """Raw records of every file, as TensorBoard's loader yields them (no migration)."""
    files = event_files(logdir)
    if "files" in exp and len(files) != exp["files"]:
        fail(f"{len(files)} event files in {logdir}, want {exp['files']}: {files}")
    seen = {}
    for path in files:
        events = list(event_file_loader.LegacyEventFileLoader(path).Load())
        if not events or events[0].file_version != "brain.Event:2":
            fail(f"{path} does not start with file_version brain.Event:2")
        if os.path.getsize(path) != sum(len(e.SerializeToString()) + 16 for e in events):
            fail(f"{path}: the loader did not read every byte (a bad record in it?)")
        for e in events:
            for v in e.summary.value:
                key = (v.tag, e.step)
                if key in seen:
                    fail(f"{key} written twice ({seen[key]} and {os.path.basename(path)})")
                seen[key] = os.path.basename(path)
    return seen


def check_scalars(name, got, scalars):
    """got: {tag: [(step, value), ...]} from one reader."""
    want_tags = {t for t, _ in scalars}
    if set(got) != want_tags:
        fail(f"{name}: scalar tags {sorted(got)}, want {sorted(want_tags)}")
    n = 0
    for tag, points in got.items():
        steps = [s for s, _ in points]
        if len(set(steps)) != len(steps):
            fail(f"{name}: {tag} has a step twice")
        want_steps = sorted(s for t, s in scalars if t == tag)
        if sorted(steps) != want_steps:
            fail(f"{name}: {tag} at steps {sorted(steps)[:8]}..., want {want_steps[:8]}...")
        for step, value in points:
            if (tag, step) in scalars:
                n += 1
                if not f32_same(scalars[(tag, step)], value):
                    fail(f"{name}: {tag}@{step} = {value!r}, want {scalars[(tag, step)]!r}")
    return n


def check_png(name, png, img, blob_w=None, blob_h=None):
    with open(img["png"], "rb") as f:
        want_png = f.read()
    if png != want_png:
        fail(f"{name}: {img['tag']}@{img['step']}: PNG bytes differ from {img['png']}")
    h, w, c = img["height"], img["width"], img["channels"]
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    with open(img["raw"], "rb") as f:
        want = np.frombuffer(f.read(), dtype=np.uint8).reshape(h, w, c)
    if c == 1:
        want = want[:, :, 0]
    if decoded.shape != want.shape or not np.array_equal(decoded, want):
        fail(f"{name}: {img['tag']}@{img['step']}: decoded {decoded.shape} differs from the "
             f"pixels written ({want.shape})")
    if blob_w is not None and (int(blob_w) != w or int(blob_h) != h):
        fail(f"{name}: {img['tag']}@{img['step']}: size {blob_w}x{blob_h}, want {w}x{h}")


def check(expected_path, logdir):
    exp, scalars = load_expected(expected_path)
    images = {(i["tag"], i["step"]): i for i in exp.get("images", [])}
    texts = {(t["tag"], t["step"]): t["text"] for t in exp.get("texts", [])}

    seen = check_raw(logdir, exp)
    want_keys = set(scalars) | set(images) | set(texts)
    if set(seen) != want_keys:
        fail(f"raw records: extra {sorted(set(seen) - want_keys)[:5]}, "
             f"missing {sorted(want_keys - set(seen))[:5]}")

    # 1. The EventAccumulator (tensorboard.backend.event_processing.event_accumulator).
    acc = ea.EventAccumulator(logdir, size_guidance=EVERYTHING)
    acc.Reload()
    tags = acc.Tags()
    got = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]}
    n = check_scalars("EventAccumulator", got, scalars)
    if set(tags["images"]) != {t for t, _ in images}:
        fail(f"EventAccumulator: image tags {tags['images']}")
    for tag in tags["images"]:
        for e in acc.Images(tag):
            img = images.get((tag, e.step))
            if img is None:
                fail(f"EventAccumulator: unexpected image {tag}@{e.step}")
                continue
            check_png("EventAccumulator", e.encoded_image_string, img, e.width, e.height)
    if set(tags["tensors"]) != {t for t, _ in texts}:
        fail(f"EventAccumulator: tensor tags {tags['tensors']}")
    for tag in tags["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "text":
            fail(f"EventAccumulator: {tag} is not for the text plugin")
        for e in acc.Tensors(tag):
            value = tensor_util.make_ndarray(e.tensor_proto).item().decode("utf-8")
            if texts.get((tag, e.step)) != value:
                fail(f"EventAccumulator: text {tag}@{e.step} = {value!r}")

    # 2. The data provider behind the TensorBoard server's dashboards (data_compat migrates
    # simple_value and Summary.Image to the scalars and images plugins on load).
    mux = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=EVERYTHING, tensor_size_guidance={"scalars": 0, "images": 0, "text": 0}
    )
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, logdir)
    ctx = context.RequestContext()
    eid = "gan_dist"
    plugins = set(provider.list_plugins(ctx, experiment_id=eid))
    for p, needed in (("scalars", scalars), ("images", images), ("text", texts)):
        if needed and p not in plugins:
            fail(f"data provider: no {p} plugin data (has {sorted(plugins)})")
    big = 10**9  # no downsampling
    runs = provider.read_scalars(ctx, experiment_id=eid, plugin_name="scalars", downsample=big)
    got = {t: [(d.step, d.value) for d in ds] for run in runs.values() for t, ds in run.items()}
    check_scalars("data provider", got, scalars)
    runs = provider.read_blob_sequences(
        ctx, experiment_id=eid, plugin_name="images", downsample=big)
    n_img = 0
    for run in runs.values():
        for tag, data in run.items():
            for d in data:
                img = images.get((tag, d.step))
                if img is None:
                    fail(f"data provider: unexpected image {tag}@{d.step}")
                    continue
                w, h, png = (provider.read_blob(ctx, blob_key=b.blob_key) for b in d.values)
                check_png("data provider", png, img, w, h)
                n_img += 1
    if n_img != len(images):
        fail(f"data provider: {n_img} images, want {len(images)}")
    runs = provider.read_tensors(ctx, experiment_id=eid, plugin_name="text", downsample=big)
    n_txt = 0
    for run in runs.values():
        for tag, data in run.items():
            for d in data:
                value = d.numpy.item().decode("utf-8")
                if texts.get((tag, d.step)) != value:
                    fail(f"data provider: text {tag}@{d.step} = {value!r}")
                n_txt += 1
    if n_txt != len(texts):
        fail(f"data provider: {n_txt} texts, want {len(texts)}")

    print(f"tensorboard {tensorboard.__version__} read {len(event_files(logdir))} file(s): "
          f"{n} scalars over {len({t for t, _ in scalars})} tags, {len(images)} images, "
          f"{len(texts)} texts" + ("" if failures else
                                   "; all equal to what was written, no duplicate (tag, step)"))


def corrupt(path, good, phrase, bad_step=None):
    good = int(good)
    # 1. The record reader TensorBoard uses without TensorFlow (tensorboard.compat's stub of
    # PyRecordReader): it must raise DataLossError at the bad record, not return it.
    it = event_file_loader._make_tf_record_iterator(path)
    n, error = 0, None
    try:
        for _ in it:
            n += 1
    except tf.errors.DataLossError as e:
        error = e
    if error is None:
        fail(f"the record reader read {n} records and no DataLossError")
    else:
        print(f"record reader: {n} good records, then DataLossError: {error.message}")
        if phrase not in error.message:
            fail(f"DataLossError says {error.message!r}, want {phrase!r}")
    if n != good:
        fail(f"the record reader passed {n} records, want {good}")
    # What the bad record would have said without its checksums (framing walked by hand).
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    for _ in range(good):
        at += 16 + int.from_bytes(data[at : at + 8], "little")
    length = int.from_bytes(data[at : at + 8], "little")
    try:
        e = event_pb2.Event.FromString(data[at + 12 : at + 12 + length])
        said = ", ".join(f"{v.tag}={v.simple_value!r}" for v in e.summary.value)
        print(f"unchecked, record {good} parses as step {e.step}: {said}")
    except Exception as e:  # a garbled length or a cut record: not even parseable
        print(f"unchecked, record {good} does not parse ({type(e).__name__})")

    # 2. TensorBoard's event loader swallows the DataLossError (it waits for a torn tail to be
    # completed), logging it, and yields nothing of the bad record or after it.
    records = []

    class Catch(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("tensorboard")
    handler = Catch(level=logging.DEBUG)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        events = list(event_file_loader.EventFileLoader(path).Load())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    if len(events) != good:
        fail(f"EventFileLoader yielded {len(events)} events, want {good}")
    noted = [r for r in records if "Truncated record" in r]
    if not noted:
        fail("EventFileLoader did not log the DataLossError")
    else:
        print(f"EventFileLoader: {len(events)} events, then logged: {noted[0]}")
    if bad_step is not None:
        bad_step = int(bad_step)
        acc = ea.EventAccumulator(path, size_guidance=EVERYTHING)
        acc.Reload()
        steps = sorted({e.step for t in acc.Tags()["scalars"] for e in acc.Scalars(t)})
        if any(s >= bad_step for s in steps):
            fail(f"EventAccumulator shows steps {steps}: the corrupt record got through")
        print(f"EventAccumulator: scalar steps {steps}")


def metrics(jsonl, logdir, prefix=""):
    scalars = {}
    with open(jsonl) as f:
        for line in f:
            row = json.loads(line)
            for k, v in row.items():
                if k != "step" and (v is None or isinstance(v, (int, float))):
                    scalars[(prefix + k, int(row["step"]))] = v
    acc = ea.EventAccumulator(logdir, size_guidance=EVERYTHING)
    acc.Reload()
    got = {}
    for t in acc.Tags()["scalars"]:
        for e in acc.Scalars(t):
            if (t, e.step) in got:
                fail(f"{t}@{e.step} twice")
            got[(t, e.step)] = e.value
    for key, want in scalars.items():
        if key not in got:
            fail(f"no scalar {key[0]} at step {key[1]}")
        elif want is None:
            if math.isfinite(got[key]):
                fail(f"{key}: {got[key]}, metrics.jsonl has null (non-finite)")
        elif not f32_same(want, got[key]):
            fail(f"{key}: {got[key]!r}, metrics.jsonl has {want!r}")
    columns = {tag for tag, _ in scalars}
    for key in got:
        if key[0] in columns and key not in scalars:
            fail(f"scalar {key[0]} at step {key[1]} is not in {jsonl}")
    check_raw(logdir, {})
    print(f"{len(scalars)} metrics.jsonl values checked against {len(got)} scalars")


def samples(folder, logdir, tag):
    want = {}
    for name in sorted(os.listdir(folder)):
        if name.startswith("step-") and name.endswith(".png"):
            want[int(name[5:-4])] = os.path.join(folder, name)
    acc = ea.EventAccumulator(logdir, size_guidance=EVERYTHING)
    acc.Reload()
    got = {e.step: e for e in acc.Images(tag)} if tag in acc.Tags()["images"] else {}
    if sorted(got) != sorted(want):
        fail(f"image {tag} at steps {sorted(got)}, sample grids at {sorted(want)}")
    for step, path in want.items():
        if step in got:
            with open(path, "rb") as f:
                png = f.read()
            ev = got[step]
            mine = np.asarray(Image.open(io.BytesIO(png)))
            theirs = np.asarray(Image.open(io.BytesIO(ev.encoded_image_string)))
            if mine.shape != theirs.shape or not np.array_equal(mine, theirs):
                fail(f"{tag}@{step}: decodes to {theirs.shape}, unlike {path} {mine.shape}")
            if (ev.width, ev.height) != (mine.shape[1], mine.shape[0]):
                fail(f"{tag}@{step}: size {ev.width}x{ev.height}, the grid is "
                     f"{mine.shape[1]}x{mine.shape[0]}")
    print(f"{len(want)} sample grids checked against image {tag}")


def main(argv):
    modes = {"check": check, "corrupt": corrupt, "metrics": metrics, "samples": samples}
    if len(argv) < 2 or argv[1] not in modes:
        print(__doc__, file=sys.stderr)
        return 2
    modes[argv[1]](*argv[2:])
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
