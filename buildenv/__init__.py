"""Build-environment library behind `invoke`, one module per step of the way data flows:

config (env.yaml) → engine, wheelhouse, images (the toolchain images) → compile (CMake + Ninja,
native or in an image, through container) → wheel → publish (dist/<target>/ and its manifest)
→ abi (the audit). pipeline puts the steps in order; repro and suite rebuild and test what they
made; families, devcontainer and doctor derive files and checks from env.yaml; files holds the
helpers they share, ui the terminal output (the CLI's alone: the library takes `log` callables)."""
