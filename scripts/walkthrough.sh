#!/usr/bin/env bash
# The README walk-through: a customer writes in, an agent answers, then blocks them.
# Needs curl and jq, and a running server with a token and tenant (the first-run
# banner prints both):
#   API=http://127.0.0.1:8080 TOKEN=sbp_... TENANT=1 bash scripts/walkthrough.sh
set -euo pipefail
API=${API:-http://127.0.0.1:8080}
: "${TOKEN:?set TOKEN to an access token}" "${TENANT:?set TENANT to a tenant id}"
call() { # METHOD PATH [JSON]: an authenticated API call; fails on any error status
  curl -sS --fail-with-body -X "$1" "$API$2" -H "Authorization: Bearer $TOKEN" \
    -H "X-Tenant: $TENANT" -H 'Content-Type: application/json' ${3:+--data "$3"}
}
inbound() { # TEXT: a customer message, as a WhatsApp connector would deliver it
  curl -sS -o /dev/null -w '%{http_code}' -X POST "$API/api/v1/channels/$CHANNEL/inbound" \
    -H "X-Channel-Secret: $SECRET" -H 'Content-Type: application/json' \
    --data "$(jq -nc --arg text "$1" '{address: "+90 532 123 45 67", first_name: "Ayşe",
      last_name: "Yılmaz", message: $text, external_id: ("wamid." + $text)}')"
}

echo "1. Create a WhatsApp channel; its inbound secret is shown once."
channel=$(call POST /api/v1/channels '{"type":"whatsapp","name":"Front desk","address":"+905320000000"}')
CHANNEL=$(jq -r .data.id <<<"$channel")
SECRET=$(jq -r .data.inbound_secret <<<"$channel")

echo "2. Two customer messages arrive."
test "$(inbound 'Merhaba')" = 201
test "$(inbound 'Yarın randevu alabilir miyim?')" = 201

echo "3. The list shows the conversation with 2 unread and the last message."
list=$(call GET "/api/v1/conversations?search=yilmaz&channel_type=whatsapp")
jq -e '.data[0] | .unread_count == "2" and .last_message == "Yarın randevu alabilir miyim?"' <<<"$list"
CONVERSATION=$(jq -r '.data[0].id' <<<"$list")
CUSTOMER=$(jq -r '.data[0].customer.id' <<<"$list")

echo "4. Reply (queued for WhatsApp)."
call POST "/api/v1/conversations/$CONVERSATION/messages" '{"message":"Tabii, yarın 14:00 uygun mu?"}' \
  | jq -e '.data.status == "queued"'

echo "5. Mark the conversation read."
call POST "/api/v1/conversations/$CONVERSATION/read" | jq -e '.data.unread_count == "0"'

echo "6. Switch the AI agent off for 30 minutes."
call POST "/api/v1/conversations/$CONVERSATION/agent/disable" '{"duration_minutes":30}' \
  | jq -e '.data.agent_disabled and .data.remaining_minutes == "30"'

echo "7. Block the customer on this channel for a day."
call POST /api/v1/channel-blacklists \
  "{\"channel_id\":$CHANNEL,\"customer_id\":$CUSTOMER,\"reason\":\"manual\",\"ttl_seconds\":86400}" \
  | jq -e '.data.is_active and .data.reason_label == "Manual"'
call GET "/api/v1/conversations/$CONVERSATION" | jq -e '.data.blacklist.reason == "manual"'

echo "8. Their next message is refused (202, counted, not stored)."
test "$(inbound 'Neden cevap yok?')" = 202
call GET "/api/v1/conversations/$CONVERSATION" | jq -e '.data.last_message == "Tabii, yarın 14:00 uygun mu?"'

echo "Walk-through complete."
