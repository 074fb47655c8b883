//! The interface between the decoder and an output constraint: before each token the decoder
//! asks which tokens may come next, and tells the constraint which one was chosen. A constraint
//! sees token ids only, never the model.

/// Restricts which tokens a sequence may produce next.
pub(crate) trait TokenConstraint: Send {
    /// Sets the logits of tokens that cannot come next to -inf. A fast pre-filter that may let
    /// some forbidden tokens through; [`Self::allows`] is the exact check.
    fn mask(&self, logits: &mut [f32]);

    /// Whether `token` may come next.
    fn allows(&self, token: u32) -> bool;

    /// Moves past `token`, which the decoder has appended.
    fn advance(&mut self, token: u32);

    /// Whether the constrained output is finished (decoding stops).
    fn is_complete(&self) -> bool;
}
