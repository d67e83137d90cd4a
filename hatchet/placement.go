package hatchet

import (
	"fmt"

	sdk "github.com/hatchet-dev/hatchet/sdks/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// PoolLabel is the worker label that names a worker's pool
// (WorkerConfig.Pool); a task whose Policy.Pool is set prefers workers with
// that label value.
const PoolLabel = "pool"

// poolWeight is the weight of a task's preference for its pool. The engine
// ranks the workers of a task's action by the summed weights of the desired
// labels they match and offers the task to the best-ranked workers first;
// with required=false a worker without the label ranks 0 instead of being
// excluded, so the task goes to any worker when no worker of the pool has a
// free slot or none exists (pkg/scheduling/v1 rankWorkerIds,
// computeWeight).
const poolWeight = 100

// base is what a worker registers for w: the SDK workflow, with its tasks'
// pool preferences added to the declaration.
//
// The SDK (sdks/go v0.104.7) has no task option for desired worker labels,
// although the engine's task declaration (CreateTaskOpts.worker_labels)
// and scheduler support them. The worker registers a workflow by calling
// its Dump, so the wrapper returned here adds the labels to what Dump
// returns, through the public protobuf reflection API. Dump's result types
// live in SDK-internal packages, which is why the wrapper is generic: the
// compiler infers them from w.wf.Dump. Workflow.Declared reads the same
// Dump, so the fast tier (TestDeclaredPool) sees what the engine gets.
func (w *Workflow) base() sdk.WorkflowBase {
	if len(w.pools) == 0 {
		return w.wf
	}
	return withPools(w.wf, w.wf.Dump, w.pools)
}

// pooled is an SDK workflow whose Dump adds desired worker labels.
type pooled[R proto.Message, N, F any] struct {
	*sdk.Workflow
	dump  func() (R, []N, []N, F)
	pools map[string]string
}

func withPools[R proto.Message, N, F any](wf *sdk.Workflow, dump func() (R, []N, []N, F), pools map[string]string) *pooled[R, N, F] {
	return &pooled[R, N, F]{Workflow: wf, dump: dump, pools: pools}
}

// Dump is the SDK workflow's declaration with the pool preferences.
func (p *pooled[R, N, F]) Dump() (R, []N, []N, F) {
	req, regular, durable, onFailure := p.dump()
	if err := addPoolLabels(req.ProtoReflect(), p.pools); err != nil {
		// Only an SDK whose declaration message changed shape gets here;
		// TestDeclaredPool fails on it first.
		panic(fmt.Sprintf("hatchet: declare worker pools: %v", err))
	}
	return req, regular, durable, onFailure
}

// addPoolLabels sets worker_labels[PoolLabel] = {str_value: pool,
// required: false, weight: poolWeight, comparator: EQUAL} on the tasks of a
// CreateWorkflowVersionRequest named in pools.
func addPoolLabels(req protoreflect.Message, pools map[string]string) error {
	field := func(m protoreflect.Message, name string) (protoreflect.FieldDescriptor, error) {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return nil, fmt.Errorf("%s has no field %s", m.Descriptor().FullName(), name)
		}
		return fd, nil
	}
	tasksFD, err := field(req, "tasks")
	if err != nil {
		return err
	}
	tasks := req.Get(tasksFD).List()
	for i := range tasks.Len() {
		task := tasks.Get(i).Message()
		idFD, err := field(task, "readable_id")
		if err != nil {
			return err
		}
		pool, ok := pools[task.Get(idFD).String()]
		if !ok {
			continue
		}
		labelsFD, err := field(task, "worker_labels")
		if err != nil {
			return err
		}
		labels := task.Mutable(labelsFD).Map()
		want := labels.NewValue()
		m := want.Message()
		for name, v := range map[string]protoreflect.Value{
			"str_value":  protoreflect.ValueOfString(pool),
			"required":   protoreflect.ValueOfBool(false),
			"weight":     protoreflect.ValueOfInt32(poolWeight),
			"comparator": protoreflect.ValueOfEnum(0), // EQUAL
		} {
			fd, err := field(m, name)
			if err != nil {
				return err
			}
			m.Set(fd, v)
		}
		labels.Set(protoreflect.ValueOfString(PoolLabel).MapKey(), want)
	}
	return nil
}

// declaredPlacement reads back the pool a declared task prefers ("" for
// none: no soft pool label) and its concurrency cap (0 for none).
func declaredPlacement(task protoreflect.Message) (pool string, maxConcurrent int) {
	fields := task.Descriptor().Fields()
	if fd := fields.ByName("worker_labels"); fd != nil {
		if v := task.Get(fd).Map().Get(protoreflect.ValueOfString(PoolLabel).MapKey()); v.IsValid() {
			l := v.Message()
			lf := l.Descriptor().Fields()
			if !l.Get(lf.ByName("required")).Bool() && l.Get(lf.ByName("weight")).Int() == poolWeight {
				pool = l.Get(lf.ByName("str_value")).String()
			}
		}
	}
	if fd := fields.ByName("concurrency"); fd != nil {
		list := task.Get(fd).List()
		for i := range list.Len() {
			c := list.Get(i).Message()
			if c.Get(c.Descriptor().Fields().ByName("expression")).String() == concurrencyKey {
				maxConcurrent = int(c.Get(c.Descriptor().Fields().ByName("max_runs")).Int())
			}
		}
	}
	return pool, maxConcurrent
}
