"""Who may talk to the broker and the database, and how it is proven.

* `passwords`: Mosquitto password-file hashes (PBKDF2-SHA512, the ``$7$`` format).
* `accounts`: the broker's service accounts (bridge, simulator, operators,
  weighbridges), their passwords under the state dir and their ACLs.
* `devices`: one credential and ACL entry per bin sensor (provision, revoke,
  list) and the firmware configuration file written for it.
* `tls`: the local certificate authority and the broker's server certificates.

Secrets live under the git-ignored state dir (``.wastewatch/secrets``, mode
600) or, for docker-compose, in the environment; never in the repository.
"""
