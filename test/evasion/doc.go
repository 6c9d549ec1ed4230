// Package evasion is the regression suite for issue 9: every way a client
// made a request Axon denies reach a real server anyway, and the
// legitimate traffic Axon broke. Each test runs the real axon-agent,
// attached to the server pod's bridge port, against real servers (Go
// net/http, Debian nginx, for some tests Python http.server, Node.js and
// HAProxy in front of Node) that log what
// they received, and asserts from those logs that the denied request never
// arrived while an allowed control request did.
//
// Topology (topo_test.go): per test a bridge on 10.86.<n>.0/24 and
// fd86:<n>::/64 with the server pod srv-0 (.10, ::10) and the client pod
// cli-0 (.20, ::20). Go listens on 8080, nginx on 8081, Python on 8082.
//
// Raw packets (packet.go, rawtcp.go): the attacker is the test process
// driving TCP by hand over an AF_PACKET socket opened in the client's
// namespace, building every Ethernet, VLAN, IP, fragment, extension
// header and TCP header itself. It speaks from a second pod cli-1
// (.21, ::21, same labels as cli-0) whose addresses no kernel owns: the
// client's kernel drops the server's answers (it does not forward) instead
// of resetting a connection it has no socket for, the server sends them to
// the client's MAC through static neighbour entries, and the attacker
// reads them from the same AF_PACKET socket. This is a pod with CAP_NET_RAW
// on the server's L2 segment, the threat model of issue 9.
//
// Tests (each fails while the leak it names exists):
//
//	TestClass01UrgentData ... TestClass09VLANPriorityTags   TCP/IP layer (tcp_test.go)
//	TestClass10BareCR ... TestClass16LenientChunked         HTTP layer (http_test.go)
//	TestLegit*                                              legitimate traffic Axon must not break (legit_test.go)
//	TestRedteam*                                            red-team findings, each failing while its bypass
//	                                                        exists (redteam_test.go); TestRedteamHeld*: attempts
//	                                                        the normalizer held (redteam_held_test.go);
//	                                                        on 10.90.<n>.0/24 and fd90:<n>::/64 (later rounds:
//	                                                        redteam_fin_test.go and redteam_connect_test.go on
//	                                                        10.94.<n>.0/24, fd94:<n>::/64; the identity,
//	                                                        tunnel, auditheld and pipeline tests on
//	                                                        10.95.<n>.0/24, fd95:<n>::/64; the status 101
//	                                                        test on 10.96.<n>.0/24, fd96:<n>::/64; the acknowledged
//	                                                        rewrite and dual-listener tests, redteam_rewrite*_test.go
//	                                                        and redteam_dual_test.go, on 10.98.<n>.0/24, fd98:<n>::/64;
//	                                                        the sixth pass, redteam_early, framing6, tfo, gso and
//	                                                        ipopts tests, on 10.99.<n>.0/24, fd99:<n>::/64;
//	                                                        the Node.js and HAProxy test, redteam_node_test.go,
//	                                                        on 10.83.<n>.0/24, fd83:<n>::/64; the lifecycle
//	                                                        tests, redteam_life*_test.go, on 10.82.<n>.0/24,
//	                                                        fd82:<n>::/64; the program-ahead and upgrade-variant
//	                                                        tests, redteam_ahead_test.go and
//	                                                        redteam_upgrade31_held_test.go, on 10.81.<n>.0/24,
//	                                                        fd81:<n>::/64)
//	TestHarnessAllowDeny                                    the harness itself
//
// A denied request counts as having reached a server when the server's own
// log shows it (Go: the handler's log; nginx: access_log "$request";
// Python: the request line). Where servers reject a request themselves
// (classes 15, 16, h2c) the test also requires that the client got no HTTP
// response at all: Axon, not the server, must refuse it. Controls are sent
// without the evasion trick (the fix may rightly refuse the trick itself,
// e.g. every fragment), from the same pod over the same kind of connection.
// Classes 12-15 also ask `axon policy explain` for the decision the
// datapath must take.
//
// The package needs root, iproute2, curl, nginx, Node.js and HAProxy
// (make deps installs them); without root every test skips.
package evasion
