//! Device and dtype selection shared by the text and image engines.

use tch::{Device, Kind};

/// Picks the compute device from a setting such as `ADFORGE_DEVICE`: `cpu`, `cuda`, `cuda:N`,
/// or `auto` (CUDA when available, CPU otherwise).
pub fn parse_device(setting: &str) -> Result<Device, DeviceError> {
    match setting.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(index)) => cuda(index),
            _ => Err(DeviceError::Unknown(setting.to_string())),
        },
    }
}

fn cuda(index: usize) -> Result<Device, DeviceError> {
    if tch::Cuda::is_available() && index < tch::Cuda::device_count() as usize {
        Ok(Device::Cuda(index))
    } else {
        Err(DeviceError::CudaUnavailable(index))
    }
}

/// Parses a dtype name: `f32`/`float32`, `f16`/`float16`, `bf16`/`bfloat16`.
pub fn parse_dtype(setting: &str) -> Result<Kind, DeviceError> {
    match setting.trim().to_ascii_lowercase().as_str() {
        "f32" | "float32" | "fp32" => Ok(Kind::Float),
        "f16" | "float16" | "fp16" | "half" => Ok(Kind::Half),
        "bf16" | "bfloat16" => Ok(Kind::BFloat16),
        _ => Err(DeviceError::UnknownDtype(setting.to_string())),
    }
}

/// A device or dtype setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The setting names no known device.
    #[error("unknown device {0:?}: use cpu, cuda, cuda:N or auto")]
    Unknown(String),
    /// CUDA was asked for but is not available (or the index is out of range).
    #[error("CUDA device {0} is not available on this machine")]
    CudaUnavailable(usize),
    /// The setting names no known dtype.
    #[error("unknown dtype {0:?}: use f32, f16 or bf16")]
    UnknownDtype(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_dtypes() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert!(parse_device("tpu").is_err());
        assert_eq!(parse_dtype("bf16").unwrap(), Kind::BFloat16);
        assert!(parse_dtype("int3").is_err());
    }
}
