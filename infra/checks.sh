#!/usr/bin/env bash
# Lint the deployment: cfn-lint on infra/*.yaml, checkov on the templates and the Dockerfile,
# hadolint on the Dockerfile. cfn-lint and hadolint come from the project's environment (.venv,
# installed from uv.lock by `make test`); checkov lives in its own environment, .venv-checkov,
# installed from infra/checkov.lock (hash-checked), because it pins a boto3 of its own that must
# not meet the project's. Prints one summary line per tool and exits non-zero if any failed.
# cfn-lint and checkov also read every combination of CapacityChoice x ScheduleKind and every
# Notifications value (infra/variants.py writes a copy of the templates per variant, its
# defaults naming it), since both tools judge a template by its parameter defaults.
#
#   make infra-checks               # all three, after installing what they need
#   bash infra/checks.sh checkov    # or: cfn-lint, hadolint
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
PYTHON="${PYTHON:-python3}"
UV="${UV:-$ROOT/.venv-uv/bin/uv}"

PROJECT_BIN="$ROOT/.venv/bin"
CHECKOV_VENV="$ROOT/.venv-checkov"
CHECKOV_LOCK="$ROOT/infra/checkov.lock"

project_tool() {  # project_tool NAME: the path of a linter installed from uv.lock
    if [[ ! -x "$PROJECT_BIN/$1" ]]; then
        echo "checks: $1 is not installed: run \`make infra-checks\` (it installs from uv.lock)" >&2
        return 1
    fi
}

ensure_checkov() {  # (re)create .venv-checkov whenever infra/checkov.lock changes
    local want
    want="$(sha256sum "$CHECKOV_LOCK" | cut -d' ' -f1)"
    if [[ -x "$CHECKOV_VENV/bin/checkov" && "$(cat "$CHECKOV_VENV/.lock-sha256" 2>/dev/null)" == "$want" ]]; then
        return 0
    fi
    if [[ ! -x "$UV" ]]; then
        echo "checks: uv is not installed: run \`make infra-checks\`" >&2
        return 1
    fi
    echo "checks: installing infra/checkov.lock into ${CHECKOV_VENV#"$ROOT"/}" >&2
    rm -rf "$CHECKOV_VENV"
    "$UV" venv --quiet --python "$PYTHON" "$CHECKOV_VENV" || return 1
    "$UV" pip sync --quiet --require-hashes --python "$CHECKOV_VENV/bin/python" "$CHECKOV_LOCK" \
        || return 1
    echo "$want" > "$CHECKOV_VENV/.lock-sha256"
}

declare -a SUMMARY=()
FAILED=0

record() {  # record TOOL RC DETAIL
    if [[ "$2" -eq 0 ]]; then
        SUMMARY+=("PASS  $1: $3")
    else
        SUMMARY+=("FAIL  $1: $3 (exit $2)")
        FAILED=1
    fi
}

run_cfn_lint() {
    project_tool cfn-lint || { record cfn-lint 1 "not installed"; return; }
    local out rc
    out="$("$PROJECT_BIN/cfn-lint" --config-file infra/.cfnlintrc.yaml --format parseable 2>&1)"
    rc=$?
    [[ -n "$out" ]] && printf '%s\n' "$out"
    local n
    n=$(printf '%s' "$out" | grep -c . || true)
    local vdir vout vrc vn
    vdir="$(mktemp -d)"
    { "$PYTHON" infra/variants.py "$vdir" && "$PYTHON" infra/variants.py --notifications "$vdir"; } \
        >/dev/null || { record cfn-lint 1 "variants.py failed"; return; }
    vout="$("$PROJECT_BIN/cfn-lint" --include-checks I --format parseable -- "$vdir"/*/*.yaml 2>&1)"
    vrc=$?
    [[ -n "$vout" ]] && printf '%s\n' "$vout"
    vn=$(printf '%s' "$vout" | grep -c . || true)
    rm -rf "$vdir"
    [[ "$vrc" -ne 0 ]] && rc=$vrc
    record cfn-lint "$rc" "$(ls infra/*.yaml | wc -l) templates, $n findings; 6 capacity x schedule combinations and 3 Notifications values, $vn findings (errors, warnings and informational)"
}

run_hadolint() {
    project_tool hadolint || { record hadolint 1 "not installed"; return; }
    local out rc n
    out="$("$PROJECT_BIN/hadolint" --config infra/.hadolint.yaml Dockerfile 2>&1)"
    rc=$?
    [[ -n "$out" ]] && printf '%s\n' "$out"
    n=$(printf '%s' "$out" | grep -c . || true)
    record hadolint "$rc" "Dockerfile, $n findings"
}

run_checkov() {
    ensure_checkov || { record checkov 1 "install failed"; return; }
    local tmp rc_cfn rc_docker rc_variants detail rc_report
    tmp="$(mktemp -d)"
    "$CHECKOV_VENV/bin/checkov" --config-file infra/.checkov.yaml -d infra \
        --framework cloudformation -o json >"$tmp/cfn.json" 2>"$tmp/cfn.err"
    rc_cfn=$?
    "$CHECKOV_VENV/bin/checkov" --config-file infra/.checkov.yaml -f Dockerfile \
        --framework dockerfile -o json >"$tmp/docker.json" 2>"$tmp/docker.err"
    rc_docker=$?
    "$PYTHON" infra/variants.py "$tmp/variants" >/dev/null
    "$PYTHON" infra/variants.py --notifications "$tmp/variants" >/dev/null
    "$CHECKOV_VENV/bin/checkov" --config-file infra/.checkov.yaml -d "$tmp/variants" \
        --framework cloudformation -o json >"$tmp/variants.json" 2>"$tmp/variants.err"
    rc_variants=$?
    # Print every failed check, then one summary per framework; fail on anything unparsed.
    detail="$("$PYTHON" - "$tmp/cfn.json" "$tmp/docker.json" "$tmp/variants.json" <<'PY'
import json, sys
parts, bad = [], False
for path in sys.argv[1:]:
    try:
        data = json.load(open(path))
    except (OSError, ValueError):
        parts.append(f"{path.rsplit('/', 1)[-1]}: no JSON report")
        bad = True
        continue
    for report in data if isinstance(data, list) else [data]:
        for check in report.get("results", {}).get("failed_checks", []):
            print(f"checkov FAILED {check['check_id']} {check['resource']} "
                  f"{check['file_path']}:{check['file_line_range']} {check['check_name']}",
                  file=sys.stderr)
        s = report.get("summary", {})
        bad |= bool(s.get("failed") or s.get("parsing_errors"))
        name = report.get('check_type') + (" (9 variants)" if "variants" in path else "")
        parts.append(f"{name}: {s.get('passed', 0)} passed, "
                     f"{s.get('failed', 0)} failed, {s.get('skipped', 0)} skipped "
                     f"(each justified inline), {s.get('parsing_errors', 0)} parse errors")
print("; ".join(parts))
sys.exit(1 if bad else 0)
PY
)"
    rc_report=$?
    if [[ "$rc_cfn" -ne 0 || "$rc_docker" -ne 0 || "$rc_variants" -ne 0 || "$rc_report" -ne 0 ]]; then
        cat "$tmp/cfn.err" "$tmp/docker.err" "$tmp/variants.err" >&2
        record checkov 1 "$detail"
    else
        record checkov 0 "$detail"
    fi
    rm -rf "$tmp"
}

tools=("$@")
[[ ${#tools[@]} -eq 0 ]] && tools=(cfn-lint checkov hadolint)
for tool in "${tools[@]}"; do
    case "$tool" in
        cfn-lint) run_cfn_lint ;;
        checkov) run_checkov ;;
        hadolint) run_hadolint ;;
        *) echo "checks: unknown tool $tool (cfn-lint, checkov, hadolint)" >&2; exit 2 ;;
    esac
done

echo
echo "infra checks:"
printf '  %s\n' "${SUMMARY[@]}"
exit "$FAILED"
