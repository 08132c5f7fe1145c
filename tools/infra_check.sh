#!/usr/bin/env bash
# Offline checks of template.yaml and the state machine, with the tools `make tools` installs:
#   tools/infra_check.sh             sam validate --lint, cfn-lint, statelint, sam build (no Docker)
#   tools/infra_check.sh wheelhouse  (network, run by `make tools`) fetch the layer's wheels, for
#                                    the host and for arm64, so that `sam build` needs no index
# TOOLS_BIN: the tools venv's bin (default .venv-tools/bin); PY313_BIN: a bin with python3.13
# (default: pyenv's 3.13.0), which `sam build` needs for the python3.13 runtime without Docker.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_BIN=${TOOLS_BIN:-.venv-tools/bin}
PY313_BIN=${PY313_BIN:-$(pyenv prefix 3.13.0 2>/dev/null || true)/bin}
WHEELHOUSE=${WHEELHOUSE:-.venv-tools/wheelhouse}
REQUIREMENTS=layers/common/requirements.txt
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export SAM_CLI_TELEMETRY=0

python313() {
    if [[ ! -x "$PY313_BIN/python3.13" ]]; then
        echo "infra-check: no python3.13 in '$PY313_BIN' (set PY313_BIN); sam build needs it without Docker" >&2
        exit 2
    fi
    "$PY313_BIN/python3.13" "$@"
}

requirements_digest() {
    sha256sum "$REQUIREMENTS" | cut -d' ' -f1
}

fill_wheelhouse() {
    rm -rf "$WHEELHOUSE"
    mkdir -p "$WHEELHOUSE"
    # What lambda-builders downloads first: the requirements resolved for the build host...
    python313 -m pip download --quiet --disable-pip-version-check -r "$REQUIREMENTS" -d "$WHEELHOUSE"
    # ...then, for every compiled wheel, the same version for Lambda's arm64 (manylinux aarch64).
    local wheel name version
    for wheel in "$WHEELHOUSE"/*.whl; do
        [[ "$wheel" == *-none-any.whl ]] && continue
        name=$(basename "$wheel" | cut -d- -f1)
        version=$(basename "$wheel" | cut -d- -f2)
        python313 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
            --implementation cp --python-version 3.13 --abi cp313 \
            --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
            --platform manylinux_2_28_aarch64 --platform manylinux_2_34_aarch64 \
            -d "$WHEELHOUSE" "$name==$version"
    done
    requirements_digest >"$WHEELHOUSE/.requirements.sha256"
    echo "wheelhouse: $(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels in $WHEELHOUSE"
}

if [[ "${1:-}" == "wheelhouse" ]]; then
    fill_wheelhouse
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== sam validate --lint"
"$TOOLS_BIN/sam" validate --lint --template template.yaml

echo "== cfn-lint template.yaml"
"$TOOLS_BIN/cfn-lint" template.yaml
echo "cfn-lint: no findings"

echo "== statelint (DefinitionSubstitutions replaced by Lambda ARNs)"
for asl in statemachine/*.asl.json; do
    "$TOOLS_BIN/python" - "$asl" "$work/$(basename "$asl")" <<'PY'
import re
import sys
from pathlib import Path

text = Path(sys.argv[1]).read_text()
arn = "arn:aws:lambda:us-east-1:123456789012:function:{}"
Path(sys.argv[2]).write_text(re.sub(r"\$\{(\w+)\}", lambda m: arn.format(m.group(1)), text))
PY
    # statelint 3.1 does not know ReaderConfig's InputType / CSVHeaderLocation, which a Distributed
    # Map reading CSV or JSON lines from S3 requires: those two findings are its gap, not ours.
    if ! "$TOOLS_BIN/statelint" "$work/$(basename "$asl")" >"$work/statelint.out"; then
        if grep -v -E '^[0-9]+ errors?:$|^One error:$|Field "(InputType|CSVHeaderLocation)" not allowed in .*\.ItemReader\.ReaderConfig$' "$work/statelint.out"; then
            exit 1
        fi
    fi
    echo "statelint: $asl is valid"
done

echo "== sam build (python3.13 from $PY313_BIN, no Docker)"
python313 --version >/dev/null
if [[ -f "$WHEELHOUSE/.requirements.sha256" && "$(cat "$WHEELHOUSE/.requirements.sha256")" == "$(requirements_digest)" ]]; then
    # Offline: the layer's dependencies come from the wheelhouse `make tools` filled.
    export PIP_NO_INDEX=1 PIP_FIND_LINKS="$PWD/$WHEELHOUSE"
else
    echo "note: $REQUIREMENTS changed since the wheelhouse was filled (or there is none): using the package index" >&2
fi
PATH="$PY313_BIN:$PATH" "$TOOLS_BIN/sam" build --template template.yaml --build-dir "$work/build" >"$work/build.log" 2>&1 || {
    cat "$work/build.log" >&2
    exit 1
}
grep -E "Build Succeeded" "$work/build.log"
echo "infra-check: all passed"
