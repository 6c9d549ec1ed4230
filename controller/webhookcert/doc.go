// Package webhookcert gives the admission webhook its serving certificate
// without cert-manager: the controller keeps a private CA and a serving
// certificate for the webhook's Service in a Secret that the webhook pod
// mounts (and reloads when it changes), and writes the CA into the
// ValidatingWebhookConfiguration's caBundle so that the API server trusts it.
//
// The serving certificate is renewed 30 days before it expires, the CA a
// year before; while a CA is replaced the caBundle holds both, so the API
// server trusts the webhook during the minute the kubelet takes to update
// the mounted Secret.
package webhookcert
