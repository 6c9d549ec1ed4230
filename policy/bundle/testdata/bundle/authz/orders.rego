package orders

import rego.v1

import data.lib.paths

deny if paths.admin(input.path)

allow if input.method in data.config.methods
