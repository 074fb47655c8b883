//! adforge server library (filled in by the foundation issue).
