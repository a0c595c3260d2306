"""One router per area: detect, verify, gallery (identify, subjects, examples, bulk, stats) and the
CompreFace-compatible API."""
