"""Build-environment library behind `invoke`: config, native and container builds, audits."""
