//! Decoding entry points of [`TextModel`]: one request, streaming, a batch, and structured
//! JSON objects. They build [`ActiveSequence`]s and run them in a [`batch`](super::batch).

use super::batch::run_batch;
use super::error::{Result, TextError};
use super::model::TextModel;
use super::request::{Generation, GenerationRequest, Prompt, StructuredOutput};
use super::sampling::SamplingParams;
use super::sequence::{ActiveSequence, JsonPlan};
use super::structured::JsonSchemaSpec;

impl TextModel {
    /// Generates a completion for one request.
    pub fn generate(&self, request: &GenerationRequest) -> Result<Generation> {
        self.generate_streaming(request, |_| {})
    }

    /// Generates a completion, calling `on_text` with each newly settled piece of text.
    pub fn generate_streaming(
        &self,
        request: &GenerationRequest,
        on_text: impl FnMut(&str) + Send,
    ) -> Result<Generation> {
        let seq = ActiveSequence::new(self, 0, request, None, Some(Box::new(on_text)))?;
        run_batch(self, vec![seq])
            .pop()
            .map(|(_, r)| r)
            .unwrap_or_else(|| Err(TextError::InvalidRequest("nothing was generated".into())))
    }

    /// Generates completions for many requests in shared forward passes; results are in
    /// request order, each the same as it would be alone (up to floating-point rounding).
    pub fn generate_batch(&self, requests: &[GenerationRequest]) -> Result<Vec<Generation>> {
        let seqs = requests
            .iter()
            .enumerate()
            .map(|(i, r)| ActiveSequence::new(self, i as u64, r, None, None))
            .collect::<Result<Vec<_>>>()?;
        run_batch(self, seqs).into_iter().map(|(_, r)| r).collect()
    }

    /// Generates one JSON object following `spec` for `prompt`.
    pub fn generate_json(
        &self,
        prompt: &Prompt,
        spec: &JsonSchemaSpec,
        sampling: &SamplingParams,
    ) -> Result<StructuredOutput> {
        let mut out = self.generate_json_batch(&[(prompt.clone(), sampling.clone())], spec)?;
        out.pop()
            .ok_or_else(|| TextError::Structured("nothing was generated".into()))
    }

    /// Generates one object per (prompt, sampling) pair, all decoded in one batch.
    pub fn generate_json_batch(
        &self,
        jobs: &[(Prompt, SamplingParams)],
        spec: &JsonSchemaSpec,
    ) -> Result<Vec<StructuredOutput>> {
        let plan = JsonPlan::new(self, spec)?;
        let seqs = jobs
            .iter()
            .enumerate()
            .map(|(i, (prompt, sampling))| {
                plan.sequence(self, i as u64, prompt, sampling, None, None)
            })
            .collect::<Result<Vec<_>>>()?;
        run_batch(self, seqs)
            .into_iter()
            .map(|(_, generation)| StructuredOutput::from_generation(generation?))
            .collect()
    }
}
