#!/usr/bin/env bash
# The README's OAuth walk-through ("From zero to a first API call"), with curl in place
# of the browser: register a public client, make a PKCE pair, sign in and approve on the
# server's own pages, exchange the code for tokens, call the API. Needs curl, jq and
# openssl, a running server, the switchboard CLI with the server's database, and the
# owner's e-mail, password and tenant (the first-run banner prints them):
#   API=http://127.0.0.1:8080 SWITCHBOARD=switchboard SWITCHBOARD_DATABASE_URL=sqlite://switchboard.db \
#     OWNER_EMAIL=owner@example.com OWNER_PASSWORD=... TENANT=1 bash scripts/oauth_walkthrough.sh
set -euo pipefail
API=${API:-http://127.0.0.1:8080}
SWITCHBOARD=${SWITCHBOARD:-switchboard}
: "${SWITCHBOARD_DATABASE_URL:?set SWITCHBOARD_DATABASE_URL to the database of the server}"
: "${OWNER_EMAIL:?set OWNER_EMAIL}" "${OWNER_PASSWORD:?set OWNER_PASSWORD}" "${TENANT:?set TENANT}"
export SWITCHBOARD_DATABASE_URL
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/cookies"

fail() { echo "oauth_walkthrough: $*" >&2; exit 1; }
check() { # JQ_FILTER JSON: the JSON must satisfy the filter
  jq -e "$1" <<<"$2" >/dev/null || fail "expected $1 in: $2"
}
browse() { # STATUS URL [CURL_ARGS...]: one browser request, with the cookie jar, not
  # following redirects; the page lands in $work/page, the Location header in $LOCATION
  local expected=$1 url=$2 status
  shift 2
  status=$(curl -sS -o "$work/page" -D "$work/headers" -w '%{http_code}' \
    -b "$work/cookies" -c "$work/cookies" "$@" "$url")
  LOCATION=$(sed -n 's/^[Ll]ocation: *//p' "$work/headers" | tr -d '\r')
  [ "$status" = "$expected" ] \
    || fail "$url: expected $expected, got $status${LOCATION:+ to $LOCATION}: $(cat "$work/page")"
}
form() { # ID: the hidden fields of the page's form with this id (its CSRF token and the
  # authorization request), HTML-decoded, as curl arguments in FIELDS
  local html field
  html=$(tr -d '\n' <"$work/page")
  case $html in *"id=\"$1\""*) ;; *) fail "no form $1 on the page: $html" ;; esac
  html=${html#*id=\"$1\"}
  html=${html%%</form>*}
  FIELDS=()
  while IFS= read -r field; do
    if [ -n "$field" ]; then FIELDS+=(--data-urlencode "$field"); fi
  done <<<"$(grep -o '<input type="hidden" name="[^"]*" value="[^"]*">' <<<"$html" \
    | sed -e 's/^<input type="hidden" name="\([^"]*\)" value="\([^"]*\)">$/\1=\2/' \
      -e 's/&quot;/"/g' -e "s/&#39;/'/g" -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&amp;/\&/g' || true)"
  case " ${FIELDS[*]-} " in *" csrf_token="*) ;; *) fail "form $1 has no CSRF token: $html" ;; esac
}
query_param() { # NAME QUERY: the (form-encoded) value of NAME in QUERY
  tr '&' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n 1
}

echo "1. The server is running at $API."
metadata=$(curl -sS --fail-with-body "$API/.well-known/oauth-authorization-server")
check '.response_types_supported == ["code"] and (.code_challenge_methods_supported | index("S256"))' "$metadata"
ISSUER=$(jq -r .issuer <<<"$metadata")

echo "2. Register a public client."
client=$("$SWITCHBOARD" client create --tenant "$TENANT" --name "My Inbox" --public \
    --redirect-uri http://127.0.0.1:8000/callback \
    --scope "conversations:read conversations:write")
check '(.client_id | startswith("sbcl_")) and .public and .client_secret == null
  and .redirect_uris == ["http://127.0.0.1:8000/callback"]
  and .scopes == ["conversations:read", "conversations:write"]' "$client"
CLIENT_ID=$(jq -r .client_id <<<"$client")

echo "3. Make a PKCE pair."
VERIFIER=$(openssl rand -hex 32)
CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')

echo "4. Authorize: sign in as the owner and approve (curl in place of the browser)."
browse 200 "$API/oauth/authorize?response_type=code&client_id=$CLIENT_ID&redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2Fcallback&scope=conversations%3Aread+conversations%3Awrite&state=xyz&code_challenge=$CHALLENGE&code_challenge_method=S256"
form login
browse 303 "$API/oauth/login" "${FIELDS[@]}" \
  --data-urlencode "email=$OWNER_EMAIL" --data-urlencode "password=$OWNER_PASSWORD"
case $LOCATION in /oauth/authorize\?*) ;; *) fail "sign-in went to '$LOCATION'" ;; esac
browse 200 "$API$LOCATION"
grep -q 'data-scope="conversations:read"' "$work/page" || fail "the consent page does not list conversations:read"
grep -q 'data-scope="conversations:write"' "$work/page" || fail "the consent page does not list conversations:write"
form consent
browse 303 "$API/oauth/authorize" "${FIELDS[@]}" --data-urlencode decision=approve
case $LOCATION in http://127.0.0.1:8000/callback\?*) ;; *) fail "approval went to '$LOCATION'" ;; esac
callback=${LOCATION#*\?}
[ "$(query_param state "$callback")" = xyz ] || fail "no state=xyz in $LOCATION"
[ "$(query_param iss "$callback")" = "$(jq -rn --arg s "$ISSUER" '$s | @uri')" ] \
  || fail "iss in $LOCATION is not the issuer $ISSUER"
CODE=$(query_param code "$callback")
case $CODE in sba_?*) ;; *) fail "no code in $LOCATION" ;; esac

echo "5. Exchange the code for tokens."
tokens=$(curl -sS --fail-with-body -X POST "$API/oauth/token" \
  -d grant_type=authorization_code -d client_id="$CLIENT_ID" \
  -d redirect_uri=http://127.0.0.1:8000/callback \
  -d code="$CODE" -d code_verifier="$VERIFIER")
check '.token_type == "Bearer" and .expires_in > 0 and (.access_token | startswith("sbo_"))
  and (.refresh_token | startswith("sbr_")) and .scope == "conversations:read conversations:write"' "$tokens"
ACCESS_TOKEN=$(jq -r .access_token <<<"$tokens")

echo "6. Call the API with the access token."
status=$(curl -sS -o "$work/conversations" -w '%{http_code}' "$API/api/v1/conversations" \
  -H "Authorization: Bearer $ACCESS_TOKEN" -H "X-Tenant: $TENANT")
[ "$status" = 200 ] || fail "GET /api/v1/conversations: expected 200, got $status: $(cat "$work/conversations")"
check '.data | type == "array"' "$(cat "$work/conversations")"

echo "OAuth walk-through complete."
