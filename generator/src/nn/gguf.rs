//! Reader for GGUF files (llama.cpp's single-file checkpoint format, version 2 and 3): the
//! metadata key/value store and the tensor directory, with tensors dequantized on request.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use tch::{Device, Kind, Tensor};

use super::error::{NnError, Result};
use super::ggml_quant::GgmlType;

const GGUF_MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;

/// One metadata value of a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// Unsigned integer (u8, u16, u32 or u64 in the file).
    UInt(u64),
    /// Signed integer (i8, i16, i32 or i64 in the file).
    Int(i64),
    /// Floating point (f32 or f64 in the file).
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 string.
    String(String),
    /// Homogeneous array.
    Array(Vec<GgufValue>),
}

impl GgufValue {
    /// The value as an unsigned integer, when it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::UInt(v) => Some(v),
            GgufValue::Int(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }

    /// The value as a signed integer.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            GgufValue::UInt(v) => i64::try_from(v).ok(),
            GgufValue::Int(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a float (integers convert).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::Float(v) => Some(v),
            GgufValue::UInt(v) => Some(v as f64),
            GgufValue::Int(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The value as a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            GgufValue::Array(v) => Some(v),
            _ => None,
        }
    }
}

/// Where one tensor lives in the file and how it is encoded.
#[derive(Debug, Clone)]
pub struct GgufTensorInfo {
    /// Dimensions in PyTorch order (outermost first); GGUF stores them innermost first.
    pub shape: Vec<i64>,
    /// Encoding of the elements.
    pub ggml_type: GgmlType,
    /// Byte offset of the data from the start of the file.
    pub offset: usize,
    /// Size of the data in bytes.
    pub byte_len: usize,
}

/// An opened, memory-mapped GGUF file.
pub struct GgufFile {
    path: PathBuf,
    mmap: Mmap,
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata key/value pairs.
    pub metadata: HashMap<String, GgufValue>,
    /// Tensor directory by name.
    pub tensors: HashMap<String, GgufTensorInfo>,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn err(&self, message: impl Into<String>) -> NnError {
        NnError::Gguf {
            path: self.path.to_path_buf(),
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| self.err(format!("truncated at byte {}", self.pos)))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn len(&mut self) -> Result<usize> {
        let n = self.u64()?;
        // Every element takes at least one byte, so a length beyond the file is corrupt.
        if n > self.data.len() as u64 {
            return Err(self.err(format!("implausible length {n}")));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn value(&mut self, type_id: u32) -> Result<GgufValue> {
        Ok(match type_id {
            0 => GgufValue::UInt(self.array::<1>()?[0] as u64),
            1 => GgufValue::Int(self.array::<1>()?[0] as i8 as i64),
            2 => GgufValue::UInt(u16::from_le_bytes(self.array()?) as u64),
            3 => GgufValue::Int(i16::from_le_bytes(self.array()?) as i64),
            4 => GgufValue::UInt(self.u32()? as u64),
            5 => GgufValue::Int(i32::from_le_bytes(self.array()?) as i64),
            6 => GgufValue::Float(f32::from_le_bytes(self.array()?) as f64),
            7 => GgufValue::Bool(self.array::<1>()?[0] != 0),
            8 => GgufValue::String(self.string()?),
            9 => {
                let item_type = self.u32()?;
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item_type)?);
                }
                GgufValue::Array(items)
            }
            10 => GgufValue::UInt(self.u64()?),
            11 => GgufValue::Int(i64::from_le_bytes(self.array()?)),
            12 => GgufValue::Float(f64::from_le_bytes(self.array()?)),
            other => return Err(self.err(format!("unknown metadata value type {other}"))),
        })
    }
}

impl GgufFile {
    /// Opens and parses a GGUF file; tensor data stay on disk (memory-mapped) until asked for.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| NnError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io_err)?;
        // SAFETY: the map is read-only; checkpoint files are not expected to change while open.
        let mmap = unsafe { Mmap::map(&file) }.map_err(io_err)?;
        let mut cur = Cursor {
            data: &mmap,
            pos: 0,
            path: &path,
        };
        if cur.take(4)? != GGUF_MAGIC {
            return Err(cur.err("not a GGUF file (bad magic)"));
        }
        let version = cur.u32()?;
        if !(2..=3).contains(&version) {
            return Err(cur.err(format!("unsupported GGUF version {version}")));
        }
        let tensor_count = cur.len()?;
        let kv_count = cur.len()?;
        let mut metadata = HashMap::with_capacity(kv_count);
        for _ in 0..kv_count {
            let key = cur.string()?;
            let type_id = cur.u32()?;
            let value = cur.value(type_id)?;
            metadata.insert(key, value);
        }
        let mut raw_infos = Vec::with_capacity(tensor_count);
        for _ in 0..tensor_count {
            let name = cur.string()?;
            let n_dims = cur.u32()? as usize;
            if n_dims > 8 {
                return Err(cur.err(format!("tensor {name} has {n_dims} dimensions")));
            }
            let mut dims = Vec::with_capacity(n_dims);
            for _ in 0..n_dims {
                dims.push(cur.u64()? as i64);
            }
            dims.reverse();
            let type_id = cur.u32()?;
            let ggml_type = GgmlType::from_id(type_id)
                .ok_or_else(|| cur.err(format!("tensor {name} has unsupported type {type_id}")))?;
            let offset = cur.u64()?;
            raw_infos.push((name, dims, ggml_type, offset));
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(GgufValue::as_u64)
            .unwrap_or(DEFAULT_ALIGNMENT)
            .max(1);
        let data_start = (cur.pos as u64).div_ceil(alignment) * alignment;
        let mut tensors = HashMap::with_capacity(tensor_count);
        for (name, shape, ggml_type, offset) in raw_infos {
            let numel: i64 = shape.iter().product();
            let byte_len = ggml_type.byte_len(numel as usize).ok_or_else(|| {
                cur.err(format!("tensor {name}: size not a whole number of blocks"))
            })?;
            let start = (data_start + offset) as usize;
            if start + byte_len > mmap.len() {
                return Err(cur.err(format!("tensor {name} extends past the end of the file")));
            }
            tensors.insert(
                name,
                GgufTensorInfo {
                    shape,
                    ggml_type,
                    offset: start,
                    byte_len,
                },
            );
        }
        tracing::debug!(path = %path.display(), version, tensors = tensors.len(), "opened GGUF");
        Ok(Self {
            path,
            mmap,
            version,
            metadata,
            tensors,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    /// A metadata value that must be present.
    pub fn require(&self, key: &str) -> Result<&GgufValue> {
        self.get(key).ok_or_else(|| NnError::Gguf {
            path: self.path.clone(),
            message: format!("metadata key {key:?} is missing"),
        })
    }

    /// Drops the file's mapped pages from the process's resident memory; they are read from
    /// the file again if touched later. For callers that copy what they need out of the
    /// mapping (the quantized decoder's blocks), so loading does not hold the file's bytes
    /// twice.
    pub fn release_pages(&self) {
        #[cfg(unix)]
        // SAFETY: the mapping is a read-only map of a file, so dropped pages are read back from
        // the file on the next access and no slice handed out changes.
        let _ = unsafe {
            self.mmap
                .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        };
    }

    /// The raw bytes of a tensor.
    pub fn tensor_bytes(&self, name: &str) -> Option<(&GgufTensorInfo, &[u8])> {
        let info = self.tensors.get(name)?;
        Some((info, &self.mmap[info.offset..info.offset + info.byte_len]))
    }

    /// Loads a tensor, dequantized to `kind` on `device`, in PyTorch dimension order.
    pub fn tensor(&self, name: &str, kind: Kind, device: Device) -> Result<Tensor> {
        let (info, bytes) = self
            .tensor_bytes(name)
            .ok_or_else(|| NnError::MissingTensor(name.to_string()))?;
        let values = info
            .ggml_type
            .dequantize(bytes)
            .map_err(|message| NnError::Gguf {
                path: self.path.clone(),
                message: format!("tensor {name}: {message}"),
            })?;
        let tensor = Tensor::from_slice(&values).reshape(info.shape.as_slice());
        Ok(tensor.to_device(device).to_kind(kind))
    }
}
