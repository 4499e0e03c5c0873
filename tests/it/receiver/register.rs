//! `vppbridge register` against a fake Client Config endpoint.
