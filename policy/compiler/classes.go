package compiler

// classify splits identities 0..n-1 into source classes: identities that
// satisfy the same source conditions (srcBits[k], one bitset per condition)
// share a class. Classes are numbered in the order of their first identity;
// classSigs[c] lists, in increasing order, the conditions class c satisfies
// that not every identity does. It refines one partition condition by
// condition, without a key per identity.
func classify(n int, srcBits []bitset) (idClass []uint16, classSigs [][]int32, err error) {
	part := make([]int32, n) // refined class of each identity, 0 at first
	parts := int32(1)
	var split []int32 // class -> the class its members in the condition move to
	var stamp []int   // class -> last condition that split it (+1)
	var varying []int32
	for k, b := range srcBits {
		if b.count() == n {
			continue // satisfied by everyone: part of every class
		}
		varying = append(varying, int32(k))
		b.each(func(i int) {
			old := part[i]
			if int(old) >= len(split) {
				split = append(split, make([]int32, int(parts)-len(split))...)
				stamp = append(stamp, make([]int, int(parts)-len(stamp))...)
			}
			if stamp[old] != k+1 {
				stamp[old] = k + 1
				split[old] = parts
				parts++
			}
			part[i] = split[old]
		})
	}
	// Number the classes in the order of their first identity.
	number := make([]int32, parts)
	for i := range number {
		number[i] = -1
	}
	idClass = make([]uint16, n)
	var reps []int
	for i, p := range part {
		if number[p] < 0 {
			if len(reps) > 0xffff {
				return nil, nil, &Error{Construct: "sources", Msg: "more than 65535 source classes on one endpoint", Kind: ErrInvalid}
			}
			number[p] = int32(len(reps))
			reps = append(reps, i)
		}
		idClass[i] = uint16(number[p])
	}
	classSigs = make([][]int32, len(reps))
	for c, i := range reps {
		for _, k := range varying {
			if srcBits[k].has(i) {
				classSigs[c] = append(classSigs[c], k)
			}
		}
	}
	return idClass, classSigs, nil
}
