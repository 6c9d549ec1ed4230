package datapath

import (
	"fmt"

	"github.com/axon-dev/axon/bpf"
	"github.com/cilium/ebpf"
)

// load creates every map of spec and the programs left in it, and hands them
// to objs: a program removed from spec (WithClientSides) stays nil there.
// On error nothing stays loaded.
func load(spec *ebpf.CollectionSpec, opts *ebpf.CollectionOptions, objs *bpf.AxonObjects) error {
	coll, err := ebpf.NewCollectionWithOptions(spec, *opts)
	if err != nil {
		return err
	}
	// Whatever Assign and DetachProgram did not take out is closed here.
	defer coll.Close()
	if err := coll.Assign(&objs.AxonMaps); err != nil {
		return fmt.Errorf("assigning maps: %w", err)
	}
	if err := coll.Assign(&objs.AxonVariables); err != nil {
		objs.AxonMaps.Close()
		return fmt.Errorf("assigning variables: %w", err)
	}
	objs.AxonIngress = coll.DetachProgram("axon_ingress")
	objs.AxonEgress = coll.DetachProgram("axon_egress")
	objs.AxonReply = coll.DetachProgram("axon_reply")
	if objs.AxonReply == nil {
		objs.Close()
		return fmt.Errorf("program axon_reply missing from the object")
	}
	return nil
}
