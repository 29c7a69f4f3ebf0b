#!/usr/bin/env bash
# Installed size of phototag in a fresh virtual environment, and what takes the space (issue 22 item 4).
#
#   bash benchmarks/install_size.sh /tmp/v                     # the README quick start: pip install . (no PyTorch)
#   EXTRAS=torch bash benchmarks/install_size.sh /tmp/vt torch==2.14.1 torchvision==0.29.1   # pip install '.[torch]'
#
# Requirements after the folder are installed first (on our machines `torch==2.14.1 torchvision==0.29.1` take the
# wheels kept on disk, see README "Install"); then `pip install .` (or `.[EXTRAS]`) adds what is still missing.
# Prints MB: the venv, nvidia-* + triton, torch, the largest rest; then runs the quick start's second half,
# `phototag suggest examples/library`, in that venv (with a scratch HOME, so the index goes there) and times it.
set -euo pipefail
venv=${1:?usage: install_size.sh NEW_VENV_DIR [REQUIREMENT...]}
shift
if [ -e "$venv" ]; then echo "$venv exists: give a new folder" >&2; exit 2; fi
cd "$(dirname "$0")/.."
python3 -m venv "$venv"
start=$(date +%s)
if [ $# -gt 0 ]; then "$venv/bin/pip" install -q "$@" 2>&1 | grep -v "^WARNING: Location" || true; fi
target=.${EXTRAS:+[$EXTRAS]}
"$venv/bin/pip" install -q "$target" 2>&1 | grep -v "^WARNING: Location" || true
echo "install: $(( $(date +%s) - start )) s"
site=$(echo "$venv"/lib/python3*/site-packages)
mb() { du -sm "$@" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
echo "venv total:        $(mb "$venv") MB"
echo "nvidia-* + triton: $(mb "$site"/nvidia* "$site"/triton* "$site"/cuda*) MB"
echo "torch:             $(mb "$site"/torch "$site"/torch-*) MB"
echo "largest other packages (MB):"
du -sm "$site"/* | grep -v -E '/(nvidia|triton|cuda|torch)([-_.]|$)' | sort -rn | head -12
"$venv/bin/python" -c "import torch; print('torch', torch.__version__, 'CUDA build' if torch.version.cuda else 'CPU build')" \
    2>/dev/null || echo "torch: not installed"
home=$(mktemp -d)
start=$(date +%s.%N)
HOME=$home XDG_DATA_HOME=$home/data XDG_CACHE_HOME=$home/cache "$venv/bin/phototag" suggest examples/library \
    > "$venv/quickstart.txt" 2> "$venv/quickstart.err" && rc=0 || rc=$?
echo "quick start: phototag suggest examples/library: exit $rc, $(echo "$(date +%s.%N) - $start" | bc) s;" \
    "output in $venv/quickstart.txt"
rm -rf "$home"
