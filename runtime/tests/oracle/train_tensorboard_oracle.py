"""Oracle for the event writer: reads an event directory with TensorBoard's EventAccumulator.

Usage: train_tensorboard_oracle.py OUT_DIR EVENT_DIR
Writes OUT_DIR/scalars.json: {tag: [[step, value], ...]} and the event files' names. Fails if a record's CRC or
framing is wrong (the reader then reports data loss and drops the event).
"""
import json
import os
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader

out_dir, event_dir = sys.argv[1], sys.argv[2]
files = sorted(f for f in os.listdir(event_dir) if "tfevents" in f)
# Every record must pass the CRC checks of TensorBoard's own record reader.
records = 0
for name in files:
    for _ in RawEventFileLoader(os.path.join(event_dir, name), detect_file_replacement=False).Load():
        records += 1
accumulator = EventAccumulator(event_dir, size_guidance={"scalars": 0})
accumulator.Reload()
scalars = {tag: [[e.step, e.value] for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}
with open(os.path.join(out_dir, "scalars.json"), "w") as f:
    json.dump({"files": files, "records": records, "scalars": scalars,
               "file_version": accumulator.file_version}, f)
