#!/usr/bin/env bash
# Runs Maven on a project of this repository (its directory first, then Maven's
# arguments). Dependencies live in the user's ~/.m2; once a run has resolved
# everything the project's poms name for these goals, later runs go offline
# (no registry round trips); a changed pom goes online again once.
set -euo pipefail
dir=$1
shift
cd "$(dirname "$0")/.."
poms=$(find "$dir" -name pom.xml -not -path '*/target/*' | sort)
# The goals are part of the stamp: `install` needs plugins `verify` never fetched.
stamp="${HOME}/.m2/repository/.tokenkeep-resolved-$( (cat $poms; echo "$@") | sha256sum | cut -c1-16)"
offline=()
[ -f "$stamp" ] && offline=(--offline)
mvn -B -ntp "${offline[@]}" -f "$dir/pom.xml" "$@"
mkdir -p "$(dirname "$stamp")" && touch "$stamp"
