package orders_test

import rego.v1

import data.orders

test_get_allowed if orders.allow with input as {"method": "GET", "path": "/x"}

test_post_not_allowed if not orders.allow with input as {"method": "POST", "path": "/x"}

test_admin_denied if orders.deny with input as {"method": "GET", "path": "/admin/x"}
