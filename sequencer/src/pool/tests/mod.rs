//! The pool's tests: the rejection table, the transaction life cycle (gaps, promotion, block
//! updates, the builder's iterator), and a property test of the invariants.

mod invariants;
mod lifecycle;
mod rejections;
