package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/axon-dev/axon/agent/server"
	"github.com/axon-dev/axon/agent/watch"
)

// Run serves the HTTP endpoints, applies the policy directory, attaches the
// programs and then follows the directory until ctx ends. Stopping the agent
// leaves programs, links and maps in place: enforcement continues.
func (a *Agent) Run(ctx context.Context) error {
	addr, srvErr, err := server.Serve(ctx, a.cfg.MetricsAddr, server.Handler(a.reg, a.Ready))
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

	fp, err := watch.Fingerprint(a.cfg.PolicyDir)
	a.policyDirState(err)
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
	a.attachAll()

	if fe, ok := a.dp.(FlowExpirer); ok {
		wg.Go(func() { a.expireFlows(ctx, fe) })
	}
	// Attachments are checked and restored on their own goroutine: a reload
	// may compile for up to compileTimeout, and an interface recreated
	// meanwhile must not wait for it.
	wg.Go(func() { a.keepAttached(ctx) })

	changes := make(chan string, 1)
	wg.Go(func() {
		watch.Watch(ctx, a.cfg.PolicyDir, a.cfg.PollInterval, fp, func(fp string) {
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
			retry.stop()
			if failed = a.reload(fp); failed != nil {
				retry.start()
			}
		case <-retry.C():
			if err := a.apply(failed, time.Now()); err != nil {
				retry.next()
			} else {
				failed = nil
			}
		}
	}
}

// policyDirState reports whether the policy directory can be read: the
// watcher calls it once per change of state, with nil when readable again.
func (a *Agent) policyDirState(err error) {
	if err == nil {
		if a.dirFailing.Swap(false) {
			a.log.Info("policy directory readable again", "dir", a.cfg.PolicyDir)
		}
		a.m.DirOK.Set(1)
		return
	}
	a.dirFailing.Store(true)
	a.m.DirOK.Set(0)
	a.logLoadFailure("cannot read the policy directory", "dir", a.cfg.PolicyDir, "error", err)
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
		a.verifyAttachments()
		if failed := a.unattached(); len(failed) > 0 {
			a.attach(failed)
		} else if a.vethsChanged() {
			// A pod came or went: its interface is recorded (or forgotten)
			// now, not at the next policy change.
			a.syncPodInterfaces(a.cfg.Interfaces, a.Table())
		}
	}
}
