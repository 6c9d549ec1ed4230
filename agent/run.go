package agent

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/axon-dev/axon/agent/server"
)

// Run serves the HTTP endpoints, applies the policy directory, attaches the
// programs and then follows the directory until ctx ends. Stopping the agent
// leaves programs, links and maps in place: enforcement continues.
func (a *Agent) Run(ctx context.Context) error {
	addr, srvErr, err := server.Serve(ctx, a.cfg.MetricsAddr, server.Handler(a.reg, a.Ready,
		server.Route{Pattern: "GET /v1/events", Handler: a.hub},
		server.Route{Pattern: "GET /v1/denials", Handler: http.HandlerFunc(a.serveReport)}))
	if err != nil {
		return err
	}
	a.log.Info("serving", "addr", addr.String())
	if a.dp == nil {
		// Nothing to enforce with; keep answering /readyz with the reason.
		select {
		case <-ctx.Done():
			return nil
		case err := <-srvErr:
			return err
		}
	}

	// Every goroutine started below ends with ctx, and Run waits for them:
	// cancel runs before Wait, also when the metrics server fails.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	fp, err := a.src.Fingerprint()
	a.policyDirState(err)
	if a.denials != nil {
		wg.Go(func() { a.pollDenials(ctx.Done()) })
	}
	if es, ok := a.dp.(EventSource); ok {
		wg.Go(func() {
			if err := es.RunEvents(ctx, a.handleEvent); err != nil {
				a.log.Error("reading datapath events", "error", err)
			}
		})
	}
	// Fill the maps before attaching: a restarted agent whose new programs
	// replace pinned ones then never runs them on an empty table.
	failed := a.reload(fp)
	a.refreshPodInterfaces()
	a.attachAll()

	if fe, ok := a.dp.(FlowExpirer); ok {
		wg.Go(func() { a.expireFlows(ctx, fe) })
	}
	// Attachments are checked and restored on their own goroutine: a reload
	// may compile for up to CompileTimeout, and an interface recreated
	// meanwhile must not wait for it.
	wg.Go(func() { a.keepAttached(ctx) })

	changes := make(chan string, 1)
	wg.Go(func() {
		a.src.Watch(ctx, fp, func(fp string) {
			select {
			case changes <- fp:
			default:
				// A reload is pending; it will read the directory again.
				select {
				case <-changes:
				default:
				}
				changes <- fp
			}
		}, a.policyDirState)
	})
	// A table the maps rejected (a transient map error, a table too large)
	// is applied again with backoff until it succeeds or a change of the
	// directory brings a new one; the directory may never change again.
	retry := newBackoff(a.cfg.RetryApply, maxRetryApply)
	defer retry.stop()
	if failed != nil {
		retry.start()
	}
	lastFP := fp // of the directory as last reloaded
	for {
		select {
		case <-ctx.Done():
			a.log.Info("stopping; programs and maps stay pinned and enforcing")
			return nil
		case err := <-srvErr:
			if err == nil || ctx.Err() != nil {
				return nil // shut down because ctx ended
			}
			return fmt.Errorf("metrics server: %w", err)
		case fp := <-changes:
			lastFP = fp
			retry.stop()
			if failed = a.reload(fp); failed != nil {
				retry.start()
			}
			a.refreshPodInterfaces()
		case <-a.cfg.Reloads:
			retry.stop()
			if failed = a.reload(lastFP); failed != nil {
				retry.start()
			}
		case <-retry.C():
			if err := a.apply(failed, time.Now(), nil); err != nil {
				retry.next()
			} else {
				failed = nil
			}
		}
	}
}

// policyDirState reports whether the policy source can be read: the
// watcher calls it once per change of state, with nil when readable again.
func (a *Agent) policyDirState(err error) {
	what, attrs := a.src.Describe()
	if err == nil {
		if a.dirFailing.Swap(false) {
			a.log.Info(what+" readable again", attrs...)
		}
		a.m.DirOK.Set(1)
		return
	}
	a.dirFailing.Store(true)
	a.m.DirOK.Set(0)
	a.logLoadFailure("cannot read the "+what, append(attrs, "error", err)...)
}

// keepAttached checks every RetryAttach that each attachment is still in
// place, and re-attaches what is missing, until ctx ends.
func (a *Agent) keepAttached(ctx context.Context) {
	t := time.NewTicker(a.cfg.RetryAttach)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// One link dump serves the whole round.
		links, listErr := a.verifyAttachments()
		if r, ok := a.dp.(PodFastOpenRefresher); ok {
			r.RefreshPodFastOpen()
		}
		if a.node != nil {
			// Cluster mode: a pod's interface appears or goes after (or
			// before) the pod object does.
			changed := a.vethsChanged(links, listErr)
			if changed || a.unresolvedPods() > 0 {
				a.refreshPodInterfaces()
			}
			if changed {
				// Every veth holding a known pod's address is recorded,
				// attached or not (a pod cannot send as another pod).
				a.syncPodInterfaces(a.interfaces(), a.Table())
			}
		}
		if failed := a.unattached(); len(failed) > 0 {
			a.attach(failed)
		} else if a.node == nil && a.vethsChanged(links, listErr) {
			// A pod came or went: its interface is recorded (or forgotten)
			// now, not at the next policy change.
			a.syncPodInterfaces(a.interfaces(), a.Table())
		}
	}
}
