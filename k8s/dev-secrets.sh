#!/usr/bin/env sh
# DEV ONLY: create (or update) the Lethe Secrets in a namespace from a local key dir made by Lethe
# (`lethe up`, or its prepare_keys step alone, as here):
#
#   LETHE_NAMESPACE=lethe-dev .venv/bin/python -c 'from cli.deployment import prepare_keys; from shared.config import load_settings; prepare_keys(load_settings("var-k8s"))'
#   k8s/dev-secrets.sh var-k8s-keys lethe-dev
#
# prepare_keys makes the pepper, one event-cipher key and one Ed25519 audit key per service
# (audit/<service>.ed25519, public key audit/<service>.pub) and a local CA with a certificate per
# identity: each service's names only that service (SANs <service>, <service>.<namespace>,
# <service>.<namespace>.svc, <service>.<namespace>.svc.cluster.local, namespace from
# LETHE_NAMESPACE, default lethe) and clients pin the service they call; the client roles
# (operator, client, sweeper, auditor, legal, console) get client-only certificates. One Secret
# lethe-tls-<identity> per identity: give each only to its holder. The vault root key is
# taken from KEY_DIR/vault/root/v1, or made here if the key dir has none. The vault's bucket keys
# are NOT Secrets: the vault makes them on its PVC vault-bucket-keys (LETHE_VAULT_KEY_DIR). Nothing
# is written to the repo; production Secrets come from your secret manager (see README.md).
set -eu
KEY_DIR=${1:?usage: dev-secrets.sh KEY_DIR [NAMESPACE]}
NS=${2:-lethe-dev}
KUBECTL=${KUBECTL:-kubectl}

secret() {
  name=$1; shift
  "$KUBECTL" -n "$NS" create secret generic "$name" "$@" --dry-run=client -o yaml | "$KUBECTL" apply -f -
}

for id in ingestion anonymization vault retention rights operator client sweeper auditor legal console; do
  secret "lethe-tls-$id" --from-file="ca.pem=$KEY_DIR/tls/ca.pem" \
    --from-file="$id.pem=$KEY_DIR/tls/$id.pem" --from-file="$id.key=$KEY_DIR/tls/$id.key"
done
for svc in ingestion anonymization vault retention rights; do
  secret "lethe-event-cipher-$svc" --from-file="$svc=$KEY_DIR/event-cipher/$svc"
done
for svc in ingestion anonymization vault retention rights; do
  # The key dir is read-only in the pod: the service reads its signing key and checks that the
  # published public key matches it, so both files come from the same key dir.
  for f in "$KEY_DIR/audit/$svc.ed25519" "$KEY_DIR/audit/$svc.pub"; do
    [ -f "$f" ] || { echo "dev-secrets.sh: missing $f (re-run prepare_keys or lethe up on $KEY_DIR)" >&2; exit 1; }
  done
  secret "lethe-audit-$svc" --from-file="$svc.ed25519=$KEY_DIR/audit/$svc.ed25519" \
    --from-file="$svc.pub=$KEY_DIR/audit/$svc.pub"
done
secret lethe-pepper --from-file="pepper=$KEY_DIR/pepper"

root="$KEY_DIR/vault/root/v1"
if [ ! -f "$root" ]; then
  mkdir -p "$KEY_DIR/vault/root" && (umask 077 && head -c 32 /dev/urandom > "$root")
fi
secret lethe-vault-keys --from-file="root-v1=$root"
