#!/usr/bin/env bash
# Installed size of phototag in a fresh virtual environment, and what takes the space (issue 22 item 4).
#
#   bash benchmarks/install_size.sh /tmp/v                     # the README quick start: pip install .
#   bash benchmarks/install_size.sh /tmp/vcpu torch==2.13.0 torchvision==0.28.0   # CPU torch first, then pip install .
#
# Requirements after the folder are installed first (on our machines `torch==2.13.0` takes the CPU wheel kept on
# disk; elsewhere `pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu`). torchvision
# must come with it: else `pip install .` takes the newest torchvision, which pulls the CUDA torch back in.
# Then `pip install .` adds what is still missing. Prints MB: the venv, nvidia-* + triton, torch, the largest rest.
set -euo pipefail
venv=${1:?usage: install_size.sh NEW_VENV_DIR [REQUIREMENT...]}
shift
if [ -e "$venv" ]; then echo "$venv exists: give a new folder" >&2; exit 2; fi
cd "$(dirname "$0")/.."
python3 -m venv "$venv"
start=$(date +%s)
if [ $# -gt 0 ]; then "$venv/bin/pip" install -q "$@" 2>&1 | grep -v "^WARNING: Location" || true; fi
"$venv/bin/pip" install -q . 2>&1 | grep -v "^WARNING: Location" || true
echo "install: $(( $(date +%s) - start )) s"
site=$(echo "$venv"/lib/python3*/site-packages)
mb() { du -sm "$@" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
echo "venv total:        $(mb "$venv") MB"
echo "nvidia-* + triton: $(mb "$site"/nvidia* "$site"/triton* "$site"/cuda*) MB"
echo "torch:             $(mb "$site"/torch "$site"/torch-*) MB"
echo "largest other packages (MB):"
du -sm "$site"/* | grep -v -E '/(nvidia|triton|cuda|torch)([-_.]|$)' | sort -rn | head -12
"$venv/bin/python" -c "import torch; print('torch', torch.__version__, 'CUDA build' if torch.version.cuda else 'CPU build')"
