//! Messages name the target they were printed for: commands as typed there, file paths for a local lake; the local function's log lines match the deployed one's field for field.
