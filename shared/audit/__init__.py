"""The audit over the event logs: reading them, proving lifecycles, and named invariants.

``lethe audit`` (``cli/audit.py``) and the DPO console both use this package:

* :mod:`shared.audit.reading`: the services' logs over ``ReadEvents``, their integrity against
  signed tree heads (checkpoints), and the gateway's own log when this machine holds it;
* :mod:`shared.audit.proof`: the merged timeline and the offline proof document;
* :mod:`shared.audit.invariants`: the explicit list of invariants, each a small named
  :class:`~shared.audit.model.Invariant` quoting the README.md promise it proves and naming the
  event types it reads, grouped in :mod:`~shared.audit.shape` (each log alone),
  :mod:`~shared.audit.lifecycle` (ingest, store, schedule, expiry), :mod:`~shared.audit.erasure`
  and :mod:`~shared.audit.requests`; :func:`check` reports each (pass, fail or skipped, events
  read, violations), :func:`verify` returns the violations only.

Integrity kinds (first problem per service, see ``shared/transparency.py``):
HEAD_SIGNATURE_INVALID, KEY_CHANGED, HISTORY_REWRITTEN, EVENT_MISSING, EVENT_OUT_OF_ORDER,
EVENT_ALTERED, EVENT_UNDECODABLE, LOG_TRUNCATED, LOG_ALTERED. Invariant kinds: the names in
:data:`INVARIANTS`.
"""

from shared.audit.erasure import bucket_versions_in, erased_keys_alive, shred_destroys
from shared.audit.invariants import INVARIANTS, Report, check, verify
from shared.audit.model import BucketVersions, Entry, Facts, Invariant, Result, Violation, entry_of
from shared.audit.proof import prove, timeline
from shared.audit.reading import (GrpcSource, gateway_log, head_dict, integrity,
                                  integrity_violations, load_checkpoint, read_logs,
                                  save_checkpoint)

_entry = entry_of  # the name the console's pages use

__all__ = ["INVARIANTS", "BucketVersions", "Entry", "Facts", "GrpcSource", "Invariant", "Report",
           "Result", "Violation", "bucket_versions_in", "check", "entry_of", "erased_keys_alive",
           "gateway_log", "head_dict", "integrity", "integrity_violations", "load_checkpoint",
           "prove", "read_logs", "save_checkpoint", "shred_destroys", "timeline", "verify"]
