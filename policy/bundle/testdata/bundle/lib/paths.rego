package lib.paths

import rego.v1

admin(p) if startswith(p, data.config.admin_prefix)
