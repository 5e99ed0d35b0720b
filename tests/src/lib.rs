//! Helpers shared by the end-to-end tests: where the built plugins are, how to load them.
