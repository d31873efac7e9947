#!/usr/bin/env sh
# DEV ONLY: create (or update) the Lethe Secrets in a namespace from a local key dir, made or
# completed by `lethe k8s secrets` (keys, a local CA and certificates naming the namespace):
#
#   k8s/dev-secrets.sh var-k8s-keys lethe-dev
#
# `lethe k8s secrets --namespace NS --key-dir KEY_DIR --out DIR` writes one Secret manifest per
# file: lethe-tls-<identity> (type kubernetes.io/tls: tls.crt, tls.key, ca.crt, plus ca.pem,
# <identity>.pem and <identity>.key, the names the manifests project) for each service (its
# certificate names only that service: <service>, <service>.<namespace>, <service>.<namespace>.svc,
# <service>.<namespace>.svc.cluster.local) and each client role (operator, client, sweeper,
# auditor, legal, console: client-only certificates); lethe-event-cipher-<service>,
# lethe-audit-<service> (the Ed25519 audit key and its public key), lethe-pepper and
# lethe-vault-keys (the vault root key, made if the key dir has none). Give each Secret only to
# its holder. The vault's bucket keys are NOT Secrets: the vault makes them on its PVC
# vault-bucket-keys (LETHE_VAULT_KEY_DIR). Certificates: `lethe certs rotate --key-dir KEY_DIR`
# (then run this again and restart the pods). Nothing is written to the repo; production Secrets
# come from your secret manager (see README.md).
set -eu
KEY_DIR=${1:?usage: dev-secrets.sh KEY_DIR [NAMESPACE]}
NS=${2:-lethe-dev}
KUBECTL=${KUBECTL:-kubectl}
LETHE=${LETHE:-.venv/bin/lethe}

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$LETHE" k8s secrets --namespace "$NS" --key-dir "$KEY_DIR" --data-dir "$OUT/var" --out "$OUT/secrets"
"$KUBECTL" apply -f "$OUT/secrets"
