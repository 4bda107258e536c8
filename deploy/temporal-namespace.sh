#!/bin/sh
# One-shot job (admin-tools image): waits for the server, creates the namespace, registers the case
# search attributes (the list in workflows/search_attributes.py; tests/test_deploy.py keeps them equal).
set -eu
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do sleep 2; done
temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1 ||
    temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" --retention 30d
for attribute in CaseStatus=Keyword CasePolicy=Keyword CaseReason=Keyword AwaitingParty=Keyword ResponseDueAt=Datetime \
    OrderId=Keyword SellerId=Keyword BuyerId=Keyword AwaitingSince=Datetime; do
    temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" \
        --name "${attribute%=*}" --type "${attribute#*=}" || echo "$attribute: registered already"
done
