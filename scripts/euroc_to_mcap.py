#!/usr/bin/env python3
"""Writes an EuRoC/ASL folder as a ROS 2 bag with an implementation that is not
scout's: PNGs decoded by pypng, messages encoded and the MCAP file written by
Foxglove's `mcap-ros2-support` (from the ROS 2 message definitions below).
`tests/cli_bag.rs` replays the bag and the folder with scout and compares the
trajectories.

usage: euroc_to_mcap.py SEQUENCE_DIR OUT.mcap
(pip install mcap-ros2-support pypng)
"""

import csv
import os
import sys

import png
from mcap_ros2.writer import Writer

TIME = "int32 sec\nuint32 nanosec\n"
HEADER = "builtin_interfaces/Time stamp\nstring frame_id\n"
SEP = "=" * 80 + "\n"
IMAGE = (
    "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\n"
    "uint8 is_bigendian\nuint32 step\nuint8[] data\n"
    + SEP + "MSG: std_msgs/Header\n" + HEADER
    + SEP + "MSG: builtin_interfaces/Time\n" + TIME
)
IMU = (
    "std_msgs/Header header\ngeometry_msgs/Quaternion orientation\n"
    "float64[9] orientation_covariance\ngeometry_msgs/Vector3 angular_velocity\n"
    "float64[9] angular_velocity_covariance\ngeometry_msgs/Vector3 linear_acceleration\n"
    "float64[9] linear_acceleration_covariance\n"
    + SEP + "MSG: std_msgs/Header\n" + HEADER
    + SEP + "MSG: builtin_interfaces/Time\n" + TIME
    + SEP + "MSG: geometry_msgs/Quaternion\nfloat64 x\nfloat64 y\nfloat64 z\nfloat64 w\n"
    + SEP + "MSG: geometry_msgs/Vector3\nfloat64 x\nfloat64 y\nfloat64 z\n"
)


def rows(path):
    """The data rows of an ASL csv (comment lines skipped)."""
    with open(path, newline="") as f:
        return [r for r in csv.reader(f) if r and not r[0].lstrip().startswith("#")]


def stamp(t_ns):
    return {"sec": t_ns // 1_000_000_000, "nanosec": t_ns % 1_000_000_000}


def grey(path):
    """An 8-bit grey PNG as (width, height, bytes)."""
    width, height, pixels, info = png.Reader(filename=path).read()
    if info["planes"] != 1 or info["bitdepth"] != 8:
        sys.exit(f"{path}: not an 8-bit grey PNG")
    return width, height, b"".join(bytes(row) for row in pixels)


def main():
    seq, out = sys.argv[1], sys.argv[2]
    mav0 = os.path.join(seq, "mav0") if os.path.isdir(os.path.join(seq, "mav0")) else seq
    messages = []  # (t_ns, order, topic, kind, message)
    for order, cam in enumerate(["cam0", "cam1"]):
        for r in rows(os.path.join(mav0, cam, "data.csv")):
            t = int(r[0])
            image = os.path.join(mav0, cam, "data", r[1].strip())
            if not os.path.isfile(image):
                # A row without its file (the EuRoC snippet keeps one): the
                # bag has no message for it, as a dropped frame would.
                print(f"skipped {image}: no such file", file=sys.stderr)
                continue
            w, h, data = grey(image)
            messages.append((t, order, f"/{cam}/image_raw", "image", {
                "header": {"stamp": stamp(t), "frame_id": cam},
                "height": h, "width": w, "encoding": "mono8", "is_bigendian": 0,
                "step": w, "data": data,
            }))
    for r in rows(os.path.join(mav0, "imu0", "data.csv")):
        t = int(r[0])
        g = [float(v) for v in r[1:4]]
        a = [float(v) for v in r[4:7]]
        messages.append((t, 2, "/imu0", "imu", {
            "header": {"stamp": stamp(t), "frame_id": "imu0"},
            "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0},
            "orientation_covariance": [-1.0] + [0.0] * 8,
            "angular_velocity": {"x": g[0], "y": g[1], "z": g[2]},
            "angular_velocity_covariance": [0.0] * 9,
            "linear_acceleration": {"x": a[0], "y": a[1], "z": a[2]},
            "linear_acceleration_covariance": [0.0] * 9,
        }))
    messages.sort(key=lambda m: (m[0], m[1]))
    with open(out, "wb") as f:
        writer = Writer(f)
        schemas = {
            "image": writer.register_msgdef("sensor_msgs/msg/Image", IMAGE),
            "imu": writer.register_msgdef("sensor_msgs/msg/Imu", IMU),
        }
        for t, _, topic, kind, message in messages:
            writer.write_message(topic, schemas[kind], message, log_time=t, publish_time=t)
        writer.finish()
    print(f"wrote {len(messages)} messages to {out}")


if __name__ == "__main__":
    main()
