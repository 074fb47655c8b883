//! adforge targeting: audience segments and their rules, request matching, prompt building,
//! brand and policy rules on copy, ranking of variants and the serving bandit.
//! Filled in by the targeting issue.
