//! Creative compositor: finished ad images at real ad sizes. Filled in by the compositor issue.
