//! The interface between the decoder and an output constraint: before each token the decoder
//! asks which tokens may come next, and tells the constraint which one was chosen. A constraint
//! sees token ids (and the model's next-token logits), never the model.

/// Restricts which tokens a sequence may produce next.
pub(crate) trait TokenConstraint: Send {
    /// Sets the logits of tokens that cannot come next to -inf. A fast pre-filter that may let
    /// some forbidden tokens through; [`Self::allows`] is the exact check. It sees the logits
    /// before masking and may record what it learns from them for [`Self::allows`].
    fn mask(&mut self, logits: &mut [f32]);

    /// Whether `token` may come next (after [`Self::mask`] has seen this step's logits).
    fn allows(&self, token: u32) -> bool;

    /// Moves past `token`, which the decoder has appended.
    fn advance(&mut self, token: u32);

    /// Whether the constrained output is finished (decoding stops).
    fn is_complete(&self) -> bool;

    /// Whether the next token is dictated by the constraint rather than chosen by the model
    /// (such tokens do not count towards fluency).
    fn is_forced(&self) -> bool {
        false
    }

    /// How many values were closed inside a word the model wanted to go on with, because no
    /// room was left ([`super::Generation::cut_words`]).
    fn cut_words(&self) -> usize {
        0
    }
}
