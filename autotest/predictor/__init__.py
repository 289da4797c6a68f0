"""The local stand-in predictor (DESIGN.md section 7): server, models, wire formats, harness."""
