#!/bin/sh
# One-shot job (admin-tools image): waits for the server, creates the namespace, waits until the
# namespace answers (a frontend caches namespaces for a few seconds: right after a create, every
# search-attribute call said "Namespace … is not found"), registers the case search attributes it
# lacks (the list in workflows/search_attributes.py; tests/unit/test_deploy.py keeps them equal), and
# exits non-zero, naming them, unless every one is registered with its type. Then it waits until they
# can be used: each service keeps its own copy of the namespace, refreshed every 2 s
# (system.namespaceCacheRefreshInterval); right after registration a case opened on a cluster failed
# with "Namespace … has no mapping defined for search attribute BuyerId". The job ends once the frontend
# takes a query naming every attribute, and two refreshes later for history and matching.
set -eu
ATTRIBUTES="CaseStatus=Keyword CasePolicy=Keyword CaseReason=Keyword AwaitingParty=Keyword ResponseDueAt=Datetime \
OrderId=Keyword SellerId=Keyword BuyerId=Keyword AwaitingSince=Datetime"
WAIT_SECONDS=${WAIT_SECONDS:-120}
REFRESH_SECONDS=${REFRESH_SECONDS:-2}

on_namespace() { temporal operator "$@" --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE"; }
on_namespace_workflows() { temporal workflow "$@" --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE"; }
registered() { on_namespace search-attribute list --output json | tr -d ' \n'; }
has() { case "$1" in *"\"$2\":\"$3\""* | *"\"$2\":\"INDEXED_VALUE_TYPE_$(echo "$3" | tr a-z A-Z)\""*) return 0 ;; esac; return 1; }

waited=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
    waited=$((waited + 2)); [ "$waited" -lt "$WAIT_SECONDS" ] || { echo "no Temporal server at $TEMPORAL_ADDRESS after $WAIT_SECONDS s" >&2; exit 1; }
    sleep 2
done
on_namespace namespace describe >/dev/null 2>&1 || on_namespace namespace create --retention 30d
waited=0
until on_namespace search-attribute list >/dev/null 2>&1; do
    waited=$((waited + 1)); [ "$waited" -lt "$WAIT_SECONDS" ] || { echo "namespace $TEMPORAL_NAMESPACE does not answer after $WAIT_SECONDS s" >&2; exit 1; }
    sleep 1
done
listed=$(registered)
for attribute in $ATTRIBUTES; do
    name=${attribute%=*} type=${attribute#*=}
    has "$listed" "$name" "$type" && continue
    on_namespace search-attribute create --name "$name" --type "$type"
done
listed=$(registered)
missing=""
for attribute in $ATTRIBUTES; do
    has "$listed" "${attribute%=*}" "${attribute#*=}" || missing="$missing $attribute"
done
[ -z "$missing" ] || { echo "namespace $TEMPORAL_NAMESPACE lacks search attributes:$missing" >&2; exit 1; }
probe=""
for attribute in $ATTRIBUTES; do
    case "${attribute#*=}" in Datetime) term="${attribute%=*} > '2000-01-01T00:00:00Z'" ;; *) term="${attribute%=*} = 'probe'" ;; esac
    probe="${probe:+$probe OR }$term"
done
waited=0
until on_namespace_workflows list --query "$probe" --limit 1 >/dev/null 2>&1; do
    waited=$((waited + 1)); [ "$waited" -lt "$WAIT_SECONDS" ] || { echo "the frontend does not take a query on the case search attributes after $WAIT_SECONDS s" >&2; exit 1; }
    sleep 1
done
sleep $((2 * REFRESH_SECONDS))
echo "namespace $TEMPORAL_NAMESPACE: every case search attribute is registered"
