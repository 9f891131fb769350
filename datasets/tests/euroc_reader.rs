//! The EuRoC/ASL reader on the real EuRoC snippet, on write/read round trips, and
//! on malformed input (every defect must name the file and line).

mod common;

use std::path::{Path, PathBuf};

use common::{T0, euroc_micro, tiny_image, write_tiny_sequence};
use datasets::euroc::{EurocDataset, Layout};
use datasets::{DatasetError, Distortion, SensorEvent};

#[test]
fn real_euroc_snippet_yields_95_pairs_imu_and_ground_truth() -> datasets::Result<()> {
    let Some(root) = euroc_micro() else {
        return Ok(());
    };
    let ds = EurocDataset::open(&root)?;
    assert_eq!(ds.layout(), Layout::Euroc);
    assert_eq!(ds.stereo_entries().len(), 95);
    // cam1/data.csv lists 99 rows; the last 4 have no PNG.
    assert_eq!(ds.missing_images().len(), 4);
    for m in ds.missing_images() {
        assert!(
            m.location.path.ends_with("cam1/data.csv"),
            "{:?}",
            m.location
        );
        assert!(
            (97..=100).contains(&m.location.line.unwrap_or(0)),
            "{:?}",
            m.location
        );
    }
    assert_eq!(ds.imu().len(), 29_120);
    assert_eq!(ds.ground_truth().len(), 115);
    let gt0 = &ds.ground_truth()[0];
    assert!((gt0.world_from_body.translation.vector.x - 0.878895).abs() < 1e-12);
    assert!(gt0.v_world.is_some() && gt0.bias.is_some());

    let cal = ds.calibration();
    assert_eq!((cal.cam0.width, cal.cam0.height), (752, 480));
    assert_eq!(cal.cam0.intrinsics.fx, 458.654);
    assert!(
        matches!(cal.cam1.distortion, Distortion::RadialTangential { k1, .. } if k1 == -0.28368365)
    );
    assert_eq!(cal.imu.rate_hz, 200.0);
    assert_eq!(cal.imu.gyro_noise_density, 1.6968e-4);
    let expected = datasets::CameraCalibration::euroc_cam0().body_from_cam;
    assert!(
        (cal.cam0.body_from_cam.translation.vector - expected.translation.vector).norm() < 1e-12
    );

    // Stream everything: time-ordered, IMU first at ties, real images decoded.
    let mut last_t = i64::MIN;
    let (mut frames, mut imu) = (0, 0);
    for event in ds.events() {
        let event = event?;
        assert!(event.t_ns() >= last_t, "events out of order");
        last_t = event.t_ns();
        match event {
            SensorEvent::Imu(_) => imu += 1,
            SensorEvent::Stereo(f) => {
                frames += 1;
                assert_eq!((f.left.width(), f.right.height()), (752, 480));
                let mean = f.left.mean();
                assert!(
                    (20.0..200.0).contains(&mean),
                    "implausible mean intensity {mean}"
                );
            }
        }
    }
    assert_eq!(frames, 95);
    // The IMU file starts at the first image, so there is no lead: 4.7 s at 200 Hz.
    assert_eq!(imu, 941);
    Ok(())
}

#[test]
fn written_sequences_read_back_bit_identical() -> datasets::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| DatasetError::io("tempdir", e))?;
    write_tiny_sequence(dir.path())?;
    let ds = EurocDataset::open(dir.path())?;
    assert_eq!(ds.stereo_entries().len(), 3);
    assert!(ds.missing_images().is_empty());
    let (read, written) = (ds.calibration(), common::tiny_rig());
    assert_eq!(read.imu, written.imu);
    for (r, w) in [(&read.cam0, &written.cam0), (&read.cam1, &written.cam1)] {
        assert_eq!(
            (r.width, r.height, r.intrinsics, r.distortion),
            (w.width, w.height, w.intrinsics, w.distortion)
        );
        // The rotation goes through a printed matrix: equal to rounding.
        let diff = r.body_from_cam.inverse() * w.body_from_cam;
        assert!(diff.rotation.angle() < 1e-12 && diff.translation.vector.norm() < 1e-15);
    }
    let frame = ds.load_stereo(1)?;
    assert_eq!(frame.t_ns, T0 + 50_000_000);
    assert_eq!(frame.left, tiny_image(1, 16, 12));
    assert_eq!(frame.right, tiny_image(101, 16, 12));
    assert_eq!(ds.imu().len(), 25);
    assert_eq!(ds.imu()[3].gyro.x, 0.03);
    assert_eq!(ds.ground_truth().len(), 3);
    assert_eq!(
        ds.ground_truth()[2].world_from_body.translation.vector.x,
        1.2
    );
    // Writing over an existing sequence is refused.
    assert!(datasets::euroc::EurocWriter::create(dir.path(), &common::tiny_rig()).is_err());
    Ok(())
}

/// A defect made in a fresh tiny sequence, and what the error must say.
struct Case {
    name: &'static str,
    file: &'static str,
    edit: fn(&str) -> String,
    /// `file:line` suffix expected in the error, e.g. `imu0/data.csv:3`.
    at: &'static str,
    says: &'static str,
}

fn replace_line(text: &str, line: usize, with: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                with.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn field_on_line(text: &str, line: usize, field: usize, with: &str) -> String {
    let l = text.lines().nth(line - 1).unwrap_or_default();
    let mut f: Vec<&str> = l.split(',').collect();
    if field < f.len() {
        f[field] = with;
    }
    replace_line(text, line, &f.join(","))
}

const CASES: &[Case] = &[
    Case {
        name: "imu value not a number",
        file: "imu0/data.csv",
        edit: |t| field_on_line(t, 3, 4, "abc"),
        at: "imu0/data.csv:3",
        says: "not a number",
    },
    Case {
        name: "imu NaN",
        file: "imu0/data.csv",
        edit: |t| field_on_line(t, 5, 2, "nan"),
        at: "imu0/data.csv:5",
        says: "NaN",
    },
    Case {
        name: "imu infinite",
        file: "imu0/data.csv",
        edit: |t| field_on_line(t, 6, 6, "-inf"),
        at: "imu0/data.csv:6",
        says: "infinite",
    },
    Case {
        name: "imu row too short",
        file: "imu0/data.csv",
        edit: |t| replace_line(t, 4, "1403715273262142976,0.1,0.2"),
        at: "imu0/data.csv:4",
        says: "expected 7",
    },
    Case {
        name: "imu time goes backwards",
        file: "imu0/data.csv",
        edit: |t| field_on_line(t, 7, 0, "1403715273000000000"),
        at: "imu0/data.csv:7",
        says: "must increase",
    },
    Case {
        name: "camera timestamp not an integer",
        file: "cam0/data.csv",
        edit: |t| field_on_line(t, 2, 0, "1.4e18"),
        at: "cam0/data.csv:2",
        says: "not an integer",
    },
    Case {
        name: "camera time goes backwards",
        file: "cam1/data.csv",
        edit: |t| field_on_line(t, 4, 0, "1403715273262142976"),
        at: "cam1/data.csv:4",
        says: "must increase",
    },
    Case {
        name: "image name escapes data/",
        file: "cam0/data.csv",
        edit: |t| field_on_line(t, 3, 1, "../../etc/passwd"),
        at: "cam0/data.csv:3",
        says: "plain name",
    },
    Case {
        name: "ground truth quaternion not unit",
        file: "state_groundtruth_estimate0/data.csv",
        edit: |t| field_on_line(t, 3, 4, "3.0"),
        at: "state_groundtruth_estimate0/data.csv:3",
        says: "unit norm",
    },
    Case {
        name: "ground truth rows of different width",
        file: "state_groundtruth_estimate0/data.csv",
        edit: |t| replace_line(t, 4, "1403715273362142976,1,2,3,1,0,0,0"),
        at: "state_groundtruth_estimate0/data.csv:4",
        says: "columns",
    },
    Case {
        name: "calibration field missing",
        file: "cam0/sensor.yaml",
        edit: |t| {
            t.lines()
                .filter(|l| !l.starts_with("intrinsics"))
                .collect::<Vec<_>>()
                .join("\n")
        },
        at: "cam0/sensor.yaml",
        says: "missing field `intrinsics`",
    },
    Case {
        name: "calibration list unclosed",
        file: "cam1/sensor.yaml",
        edit: |t| t.replace("resolution: [16, 12]", "resolution: [16, 12"),
        at: "cam1/sensor.yaml:",
        says: "unclosed",
    },
    Case {
        name: "calibration wrong count",
        file: "cam0/sensor.yaml",
        edit: |t| t.replace("resolution: [16, 12]", "resolution: [16, 12, 3]"),
        at: "cam0/sensor.yaml:",
        says: "must hold 2 numbers",
    },
    Case {
        name: "extrinsics not a rotation",
        file: "cam0/sensor.yaml",
        edit: |t| t.replacen("data: [0.014", "data: [5.014", 1),
        at: "cam0/sensor.yaml:",
        says: "not a rotation",
    },
    Case {
        name: "unknown distortion model",
        file: "cam1/sensor.yaml",
        edit: |t| t.replace("radial-tangential", "double-sphere"),
        at: "cam1/sensor.yaml:",
        says: "unknown distortion model",
    },
    Case {
        name: "imu noise density negative",
        file: "imu0/sensor.yaml",
        edit: |t| {
            t.replace(
                "gyroscope_noise_density: 0.00016968",
                "gyroscope_noise_density: -1",
            )
        },
        at: "imu0/sensor.yaml:",
        says: "must be 1e-7 to 1e0",
    },
    Case {
        name: "imu noise density absurd",
        file: "imu0/sensor.yaml",
        edit: |t| {
            t.replace(
                "accelerometer_random_walk: 0.003",
                "accelerometer_random_walk: 1e300",
            )
        },
        at: "imu0/sensor.yaml:",
        says: "accelerometer_random_walk` must be",
    },
    Case {
        name: "imu rate zero",
        file: "imu0/sensor.yaml",
        edit: |t| t.replace("rate_hz: 200.0", "rate_hz: 0.0"),
        at: "imu0/sensor.yaml:",
        says: "rate_hz` must be",
    },
    Case {
        name: "focal length of 1e-9",
        file: "cam0/sensor.yaml",
        edit: |t| {
            t.replace(
                "intrinsics: [458.654, 457.296,",
                "intrinsics: [1e-9, 457.296,",
            )
        },
        at: "cam0/sensor.yaml:",
        says: "focal lengths must be",
    },
    Case {
        name: "focal length of 1e300",
        file: "cam1/sensor.yaml",
        edit: |t| {
            t.replace(
                "intrinsics: [457.587, 456.134,",
                "intrinsics: [457.587, 1e300,",
            )
        },
        at: "cam1/sensor.yaml:",
        says: "focal lengths must be",
    },
    Case {
        name: "principal point off the image",
        file: "cam0/sensor.yaml",
        edit: |t| t.replace("7.5, 5.5]", "7.5, 5000.5]"),
        at: "cam0/sensor.yaml:",
        says: "principal point must lie on",
    },
    Case {
        name: "stereo baseline of zero",
        file: "cam1/sensor.yaml",
        edit: |t| {
            t.replace("-0.0198435579556,", "-0.0216401454975,")
                .replace("0.0453689425024,", "-0.064676986768,")
                .replace("0.00786212447038,", "0.00981073058949,")
        },
        at: "cam1/sensor.yaml",
        says: "stereo baseline",
    },
    Case {
        name: "negative timestamp",
        file: "imu0/data.csv",
        edit: |t| field_on_line(t, 2, 0, "-5"),
        at: "imu0/data.csv:2",
        says: "negative",
    },
    Case {
        name: "ground truth row of 12 columns",
        file: "state_groundtruth_estimate0/data.csv",
        edit: |t| replace_line(t, 2, "1403715273262142976,1,2,3,1,0,0,0,0,0,0,0"),
        at: "state_groundtruth_estimate0/data.csv:2",
        says: "expected 17 columns",
    },
    Case {
        name: "IMU not at the body origin",
        file: "imu0/sensor.yaml",
        edit: |t| {
            t.replacen(
                "data: [1.0, 0.0, 0.0, 0.0,",
                "data: [1.0, 0.0, 0.0, 0.5,",
                1,
            )
        },
        at: "imu0/sensor.yaml:",
        says: "not the identity",
    },
];

fn error_text(root: &Path) -> Option<String> {
    let ds = match EurocDataset::open(root) {
        Ok(ds) => ds,
        Err(e) => return Some(e.to_string()),
    };
    for i in 0..ds.stereo_entries().len() {
        if let Err(e) = ds.load_stereo(i) {
            return Some(e.to_string());
        }
    }
    None
}

#[test]
fn malformed_inputs_give_errors_naming_file_and_line() -> datasets::Result<()> {
    for case in CASES {
        let dir = tempfile::tempdir().map_err(|e| DatasetError::io("tempdir", e))?;
        write_tiny_sequence(dir.path())?;
        let file = dir.path().join("mav0").join(case.file);
        let text = std::fs::read_to_string(&file).map_err(|e| DatasetError::io(&file, e))?;
        let edited = (case.edit)(&text);
        assert_ne!(edited, text, "case `{}` did not change the file", case.name);
        std::fs::write(&file, edited).map_err(|e| DatasetError::io(&file, e))?;
        let message = error_text(dir.path());
        let message = message.unwrap_or_else(|| panic!("case `{}` was accepted", case.name));
        assert!(
            message.contains(case.at),
            "case `{}`: `{message}` lacks `{}`",
            case.name,
            case.at
        );
        assert!(
            message.contains(case.says),
            "case `{}`: `{message}` lacks `{}`",
            case.name,
            case.says
        );
    }
    Ok(())
}

fn write_png(
    path: &Path,
    w: u32,
    h: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) {
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(color);
    enc.set_depth(depth);
    let mut wr = enc.write_header().unwrap_or_else(|e| panic!("{e}"));
    wr.write_image_data(data).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn bad_images_name_the_csv_row_and_the_file() -> datasets::Result<()> {
    let name = format!("{}.png", T0 + 50_000_000);
    type MakeBad = fn(&Path);
    let cases: [(&str, MakeBad, &str); 4] = [
        (
            "wrong size",
            |p| {
                write_png(
                    p,
                    8,
                    12,
                    png::ColorType::Grayscale,
                    png::BitDepth::Eight,
                    &[0; 96],
                )
            },
            "is 8x12 pixels, the calibration says 16x12",
        ),
        (
            "colour",
            |p| {
                write_png(
                    p,
                    16,
                    12,
                    png::ColorType::Rgb,
                    png::BitDepth::Eight,
                    &[0; 16 * 12 * 3],
                )
            },
            "8-bit grayscale is required",
        ),
        (
            "16-bit in EuRoC",
            |p| {
                write_png(
                    p,
                    16,
                    12,
                    png::ColorType::Grayscale,
                    png::BitDepth::Sixteen,
                    &[0; 16 * 12 * 2],
                )
            },
            "16-bit",
        ),
        (
            "not a PNG",
            |p| {
                let _ = std::fs::write(p, b"definitely not a png");
            },
            "not a valid PNG",
        ),
    ];
    for (what, make_bad, says) in cases {
        let dir = tempfile::tempdir().map_err(|e| DatasetError::io("tempdir", e))?;
        write_tiny_sequence(dir.path())?;
        make_bad(&dir.path().join("mav0/cam1/data").join(&name));
        let message = error_text(dir.path()).unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(message.contains("cam1/data.csv:3"), "{what}: {message}");
        assert!(message.contains(&name), "{what}: {message}");
        assert!(message.contains(says), "{what}: {message}");
    }
    Ok(())
}

#[test]
fn missing_index_file_names_the_path() -> datasets::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| DatasetError::io("tempdir", e))?;
    write_tiny_sequence(dir.path())?;
    let csv = dir.path().join("mav0/imu0/data.csv");
    std::fs::remove_file(&csv).map_err(|e| DatasetError::io(&csv, e))?;
    let message = error_text(dir.path()).unwrap_or_default();
    assert!(
        message.contains("imu0/data.csv") && message.contains("missing"),
        "{message}"
    );
    Ok(())
}

#[test]
fn missing_image_files_are_reported_and_skipped() -> datasets::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| DatasetError::io("tempdir", e))?;
    write_tiny_sequence(dir.path())?;
    let png = dir.path().join(format!("mav0/cam0/data/{}.png", T0));
    std::fs::remove_file(&png).map_err(|e| DatasetError::io(&png, e))?;
    let ds = EurocDataset::open(dir.path())?;
    assert_eq!(ds.stereo_entries().len(), 2);
    assert_eq!(ds.missing_images().len(), 1);
    assert_eq!(ds.missing_images()[0].location.line, Some(2));
    assert_eq!(ds.unpaired_rows(), 1, "cam1's first row lost its partner");
    Ok(())
}

/// A TUM-VI export: Kalibr `dso/camchain.yaml` and `dso/imu_config.yaml` instead of
/// per-sensor `sensor.yaml`, equidistant fisheye, 16-bit PNGs, pose-only `mocap0`.
#[test]
fn tum_vi_layout_reads_fisheye_16_bit_and_mocap() -> datasets::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| DatasetError::io("tempdir", e))?;
    let root = dir.path();
    let io = |p: &Path, e| DatasetError::io(p, e);
    let mav0 = root.join("mav0");
    for d in ["cam0/data", "cam1/data", "imu0", "mocap0"] {
        std::fs::create_dir_all(mav0.join(d)).map_err(|e| io(&mav0, e))?;
    }
    std::fs::create_dir_all(root.join("dso")).map_err(|e| io(root, e))?;
    let camchain = "cam0:\n  T_cam_imu:\n  - [-0.9995, 0.0075, -0.0299, 0.0455]\n  - [0.0296, -0.0383, -0.9988, -0.0711]\n  - [-0.0086, -0.9992, 0.0381, -0.0445]\n  - [0.0, 0.0, 0.0, 1.0]\n  camera_model: pinhole\n  distortion_coeffs: [0.0034823894022493434, 0.0007150348452162257, -0.0020532361418706202,\n    0.00020293673591811182]\n  distortion_model: equidistant\n  intrinsics: [190.97847715128717, 190.9733070521226, 1.93170605935475, 1.3974428996504]\n  resolution: [4, 3]\n  rostopic: /cam0/image_raw\ncam1:\n  T_cam_imu:\n  - [-0.9995, 0.0075, -0.0299, -0.0555]\n  - [0.0296, -0.0383, -0.9988, -0.0711]\n  - [-0.0086, -0.9992, 0.0381, -0.0445]\n  - [0.0, 0.0, 0.0, 1.0]\n  camera_model: pinhole\n  distortion_coeffs: [0.0034, 0.0007, -0.0020, 0.0002]\n  distortion_model: equidistant\n  intrinsics: [190.4, 190.4, 1.6, 1.4]\n  resolution: [4, 3]\n";
    let imu = "accelerometer_noise_density: 0.0028\naccelerometer_random_walk: 0.00086\ngyroscope_noise_density: 0.00016\ngyroscope_random_walk: 0.000022\nrostopic: /imu0\nupdate_rate: 200.0\n";
    let write = |p: PathBuf, text: &str| std::fs::write(&p, text).map_err(|e| io(&p, e));
    write(root.join("dso/camchain.yaml"), camchain)?;
    write(root.join("dso/imu_config.yaml"), imu)?;
    let t = [T0, T0 + 50_000_000];
    for cam in ["cam0", "cam1"] {
        let mut csv = String::from("#timestamp [ns],filename\n");
        for (k, t) in t.iter().enumerate() {
            csv.push_str(&format!("{t},{t}.png\n"));
            // 16-bit big-endian samples 0x1234 * k: the high byte must come out.
            let px = [(0x12 * k) as u8, 0x34];
            let data: Vec<u8> = px.iter().copied().cycle().take(4 * 3 * 2).collect();
            let png = mav0.join(cam).join("data").join(format!("{t}.png"));
            write_png(
                &png,
                4,
                3,
                png::ColorType::Grayscale,
                png::BitDepth::Sixteen,
                &data,
            );
        }
        write(mav0.join(cam).join("data.csv"), &csv)?;
    }
    write(
        mav0.join("imu0/data.csv"),
        &format!("#t,wx,wy,wz,ax,ay,az\n{T0},0,0,0,0,0,9.8\n"),
    )?;
    write(
        mav0.join("mocap0/data.csv"),
        &format!(
            "#timestamp [ns],p x,p y,p z,q w,q x,q y,q z\n{T0},1,2,3,1,0,0,0\n{},1.1,2,3,0,1,0,0\n",
            T0 + 8_333_333
        ),
    )?;

    let ds = EurocDataset::open(root)?;
    assert_eq!(ds.layout(), Layout::TumVi);
    let cam0 = &ds.calibration().cam0;
    assert!(
        matches!(cam0.distortion, Distortion::Equidistant { k1, .. } if k1 == 0.0034823894022493434)
    );
    assert_eq!((cam0.width, cam0.height, cam0.rate_hz), (4, 3, 20.0));
    // body_from_cam is the inverse of Kalibr's T_cam_imu.
    let cam_from_imu_t = nalgebra::Vector3::new(0.0455, -0.0711, -0.0445);
    let back = cam0.body_from_cam.inverse().translation.vector;
    assert!((back - cam_from_imu_t).norm() < 2e-3, "{back:?}");
    assert_eq!(ds.calibration().imu.gyro_noise_density, 0.00016);
    assert_eq!(ds.ground_truth().len(), 2);
    assert!(ds.ground_truth()[0].v_world.is_none());
    let frame = ds.load_stereo(1)?;
    assert!(frame.left.data().iter().all(|&v| v == 0x12));
    Ok(())
}

/// Rewrites every data row of `mav0/<file>` with `edit` (the header kept).
fn edit_rows(root: &Path, file: &str, edit: impl Fn(&str) -> Option<String>) {
    let path = root.join("mav0").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let out: String = text
        .lines()
        .filter_map(|l| {
            if l.starts_with('#') {
                Some(l.to_string())
            } else {
                edit(l)
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("{e}"));
}

/// `l` with field `i` (comma-separated) mapped by `f`.
fn map_field(l: &str, i: usize, f: impl Fn(&str) -> String) -> String {
    l.split(',')
        .enumerate()
        .map(|(k, v)| if k == i { f(v) } else { v.to_string() })
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn sequences_no_run_can_use_are_refused_by_check_usable() -> datasets::Result<()> {
    type Edit = fn(&Path);
    let cases: [(&str, Edit, &str); 4] = [
        (
            "no IMU rows",
            |r| edit_rows(r, "imu0/data.csv", |_| None),
            "no IMU sample",
        ),
        (
            "cam1 3 ms off cam0",
            |r| {
                edit_rows(r, "cam1/data.csv", |l| {
                    Some(map_field(l, 0, |t| {
                        (t.parse::<i64>().unwrap_or(0) + 3_000_000).to_string()
                    }))
                });
            },
            "no stereo pair",
        ),
        (
            "an all-zero IMU",
            |r| {
                edit_rows(r, "imu0/data.csv", |l| {
                    Some((1..7).fold(l.to_string(), |l, i| map_field(&l, i, |_| "0.0".into())))
                });
            },
            "reads no gravity",
        ),
        (
            "IMU 10 s after the images",
            |r| {
                edit_rows(r, "imu0/data.csv", |l| {
                    Some(map_field(l, 0, |t| {
                        (t.parse::<i64>().unwrap_or(0) + 10_000_000_000).to_string()
                    }))
                });
            },
            "covers none of the stereo pairs",
        ),
    ];
    let dir = tempfile::tempdir().map_err(|e| DatasetError::io("tempdir", e))?;
    write_tiny_sequence(dir.path())?;
    EurocDataset::open(dir.path())?.check_usable()?;
    for (name, edit, says) in cases {
        let dir = tempfile::tempdir().map_err(|e| DatasetError::io("tempdir", e))?;
        write_tiny_sequence(dir.path())?;
        edit(dir.path());
        // The reader opens it (the front end alone could use it)...
        let ds = EurocDataset::open(dir.path())?;
        // ... and the check says why no visual-inertial run can.
        let message = ds
            .check_usable()
            .map(|()| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(message.contains(says), "{name}: `{message}` lacks `{says}`");
        assert!(
            message.contains("mav0"),
            "{name}: `{message}` names no folder"
        );
    }
    Ok(())
}
