//! The weight loader every network is built with: [`Weights`] views a checkpoint's tensors under
//! a name prefix (`w.pp("model.layers.0").pp("self_attn")`), over any [`TensorSource`]
//! (a [`TensorMap`] of safetensors tensors, or a GGUF-backed source).

use std::collections::HashMap;
use std::fmt::Display;
use std::rc::Rc;

use tch::{Device, Kind, Tensor};

use super::error::{NnError, Result};

/// Where tensors come from, addressed by their full names.
pub trait TensorSource {
    /// Whether the tensor `name` exists.
    fn contains(&self, name: &str) -> bool;
    /// Whether any tensor name starts with `prefix`.
    fn contains_prefix(&self, prefix: &str) -> bool;
    /// The tensor `name`, in the kind and on the device the model is built for.
    fn tensor(&self, name: &str) -> Result<Tensor>;
}

/// Named tensors held in memory, handed out converted to one kind and device.
pub struct TensorMap {
    tensors: HashMap<String, Tensor>,
    kind: Kind,
    device: Device,
}

impl TensorMap {
    /// Wraps `tensors`; [`TensorSource::tensor`] converts each to `kind` on `device` (a no-op
    /// for tensors already there).
    pub fn new(tensors: HashMap<String, Tensor>, kind: Kind, device: Device) -> Self {
        Self {
            tensors,
            kind,
            device,
        }
    }
}

impl TensorSource for TensorMap {
    fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn contains_prefix(&self, prefix: &str) -> bool {
        self.tensors.keys().any(|k| k.starts_with(prefix))
    }

    fn tensor(&self, name: &str) -> Result<Tensor> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| NnError::MissingTensor(name.to_string()))?;
        Ok(t.to_device(self.device).to_kind(self.kind).contiguous())
    }
}

/// A checkpoint's tensors viewed under a name prefix such as `down_blocks.0.`.
///
/// Only used while building modules; the modules keep their own tensors afterwards.
#[derive(Clone)]
pub struct Weights {
    source: Rc<dyn TensorSource>,
    prefix: String,
}

impl Weights {
    /// All tensors of `source`, with no prefix.
    pub fn new(source: impl TensorSource + 'static) -> Self {
        Self {
            source: Rc::new(source),
            prefix: String::new(),
        }
    }

    /// The same tensors under the current prefix + `name` + `.` ("push prefix").
    pub fn pp(&self, name: impl Display) -> Weights {
        Weights {
            source: self.source.clone(),
            prefix: format!("{}{}.", self.prefix, name),
        }
    }

    /// The full name of `name` under the current prefix.
    pub fn full_name(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// Whether the tensor `name` exists under the current prefix.
    pub fn contains(&self, name: &str) -> bool {
        self.source.contains(&self.full_name(name))
    }

    /// Whether any tensor lives under the current prefix + `name` + `.`.
    pub fn has_module(&self, name: &str) -> bool {
        self.source
            .contains_prefix(&format!("{}{}.", self.prefix, name))
    }

    /// The tensor `name` under the current prefix.
    pub fn get(&self, name: &str) -> Result<Tensor> {
        self.source.tensor(&self.full_name(name))
    }

    /// The tensor `name`, which must have shape `expected`.
    pub fn get_shaped(&self, name: &str, expected: &[i64]) -> Result<Tensor> {
        let t = self.get(name)?;
        if t.size() != expected {
            return Err(NnError::TensorShape {
                name: self.full_name(name),
                actual: t.size(),
                expected: expected.to_vec(),
            });
        }
        Ok(t)
    }

    /// The tensor `name` if the checkpoint has it.
    pub fn get_opt(&self, name: &str) -> Result<Option<Tensor>> {
        if self.contains(name) {
            self.get(name).map(Some)
        } else {
            Ok(None)
        }
    }
}
