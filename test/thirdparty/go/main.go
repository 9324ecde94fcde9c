// A third-party client in the suite: etcd 3.4's Go client (clientv3 with its concurrency,
// namespace and mirror packages, and the raw Lock and Election services) runs the same steps
// on one server and prints what it saw as JSON. The test runs it on a real etcd and on
// etcd-ts serve and compares the two reports.
//
// What legitimately differs is made comparable here: revisions are printed relative to the
// revision at the start, lease ids (and the lease hex inside lock and election keys) by order
// of appearance, and cluster and member ids and raft terms are left out.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/clientv3/mirror"
	"go.etcd.io/etcd/clientv3/namespace"
	"go.etcd.io/etcd/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/etcdserver/api/v3lock/v3lockpb"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.etcd.io/etcd/mvcc/mvccpb"
)

type step struct {
	Name  string      `json:"name"`
	Value interface{} `json:"value"`
}

type probe struct {
	cli    *clientv3.Client
	p      string
	base   int64
	leases map[clientv3.LeaseID]string
	order  []clientv3.LeaseID
	steps  []step
}

func (r *probe) rev(v int64) int64 {
	if v == 0 {
		return 0
	}
	return v - r.base
}

func (r *probe) lease(id clientv3.LeaseID) string {
	if id == 0 {
		return "none"
	}
	name, ok := r.leases[id]
	if !ok {
		name = "lease#" + strconv.Itoa(len(r.leases)+1)
		r.leases[id] = name
		r.order = append(r.order, id)
	}
	return name
}

// key hides the lease hex that lock and election keys end with.
func (r *probe) key(k []byte) string {
	s := string(k)
	for _, id := range r.order {
		s = strings.Replace(s, "/"+strconv.FormatInt(int64(id), 16), "/<"+r.leases[id]+">", 1)
	}
	return s
}

func (r *probe) kv(kv *mvccpb.KeyValue) map[string]interface{} {
	if kv == nil {
		return nil
	}
	return map[string]interface{}{
		"key": r.key(kv.Key), "value": string(kv.Value), "create": r.rev(kv.CreateRevision),
		"mod": r.rev(kv.ModRevision), "version": kv.Version, "lease": r.lease(clientv3.LeaseID(kv.Lease)),
	}
}

func (r *probe) kvs(kvs []*mvccpb.KeyValue) []interface{} {
	out := []interface{}{}
	for _, kv := range kvs {
		out = append(out, r.kv(kv))
	}
	return out
}

func (r *probe) events(evs []*clientv3.Event) []interface{} {
	out := []interface{}{}
	for _, e := range evs {
		out = append(out, map[string]interface{}{"type": e.Type.String(), "kv": r.kv(e.Kv), "prev": r.kv(e.PrevKv)})
	}
	return out
}

func (r *probe) record(name string, v interface{}) { r.steps = append(r.steps, step{name, v}) }

func errText(err error) interface{} {
	if err == nil {
		return nil
	}
	return err.Error()
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// nextPut waits (bounded) for the first PUT under prefix after rev.
func (r *probe) nextPut(wch clientv3.WatchChan) {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case wr, ok := <-wch:
			if !ok {
				panic("watch ended")
			}
			for _, e := range wr.Events {
				if e.Type == mvccpb.PUT {
					return
				}
			}
		case <-timeout:
			panic("no put seen")
		}
	}
}

func (r *probe) kvSteps() {
	c, cancel := ctx()
	defer cancel()
	p := r.p + "kv/"
	for i, k := range []string{"a", "b", "c", "d"} {
		_, err := r.cli.Put(c, p+k, strconv.Itoa(i))
		must(err)
	}
	put, err := r.cli.Put(c, p+"a", "again", clientv3.WithPrevKV())
	must(err)
	r.record("put prevKV", map[string]interface{}{"rev": r.rev(put.Header.Revision), "prev": r.kv(put.PrevKv)})
	g, err := r.cli.Get(c, p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(2))
	must(err)
	r.record("get prefix desc limit 2", map[string]interface{}{"kvs": r.kvs(g.Kvs), "more": g.More, "count": g.Count})
	g, err = r.cli.Get(c, p, clientv3.WithPrefix(), clientv3.WithCountOnly())
	must(err)
	r.record("count only", g.Count)
	g, err = r.cli.Get(c, p+"b", clientv3.WithFromKey(), clientv3.WithKeysOnly(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
	must(err)
	r.record("from key, keys only, by mod revision", r.kvs(g.Kvs))
	g, err = r.cli.Get(c, p, clientv3.WithPrefix(), clientv3.WithRev(put.Header.Revision-1))
	must(err)
	r.record("get at an older revision", r.kvs(g.Kvs))
	g, err = r.cli.Get(c, p, clientv3.WithPrefix(), clientv3.WithMinModRev(put.Header.Revision), clientv3.WithMaxCreateRev(put.Header.Revision))
	r.record("min mod / max create revision", map[string]interface{}{"kvs": r.kvs(g.Kvs), "err": errText(err)})
	_, err = r.cli.Get(c, p, clientv3.WithRev(put.Header.Revision+1000))
	r.record("future revision", errText(err))
	d, err := r.cli.Delete(c, p+"c", clientv3.WithRange(p+"e"), clientv3.WithPrevKV())
	must(err)
	r.record("delete range prevKV", map[string]interface{}{"deleted": d.Deleted, "prev": r.kvs(d.PrevKvs), "rev": r.rev(d.Header.Revision)})
	d, err = r.cli.Delete(c, p+"nothing")
	must(err)
	r.record("delete nothing", map[string]interface{}{"deleted": d.Deleted, "rev": r.rev(d.Header.Revision)})
	_, err = r.cli.Put(c, "", "x")
	r.record("empty key", errText(err))
	_, err = r.cli.Put(c, p+"a", "x", clientv3.WithIgnoreValue())
	r.record("ignore value with a value", errText(err))
}

func (r *probe) txnSteps() {
	c, cancel := ctx()
	defer cancel()
	p := r.p + "txn/"
	_, err := r.cli.Put(c, p+"x", "1")
	must(err)
	t, err := r.cli.Txn(c).If(clientv3.Compare(clientv3.Value(p+"x"), "=", "1"), clientv3.Compare(clientv3.Version(p+"y"), "=", 0)).
		Then(clientv3.OpPut(p+"y", "2"), clientv3.OpGet(p, clientv3.WithPrefix()), clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(p+"x"), ">", 0)},
			[]clientv3.Op{clientv3.OpDelete(p + "x")}, nil)).
		Else(clientv3.OpGet(p + "x")).Commit()
	must(err)
	out := []interface{}{}
	for _, res := range t.Responses {
		switch v := res.Response.(type) {
		case *pb.ResponseOp_ResponsePut:
			out = append(out, map[string]interface{}{"put": r.rev(v.ResponsePut.Header.Revision)})
		case *pb.ResponseOp_ResponseRange:
			out = append(out, map[string]interface{}{"range": r.kvs(v.ResponseRange.Kvs), "rev": r.rev(v.ResponseRange.Header.Revision)})
		case *pb.ResponseOp_ResponseTxn:
			out = append(out, map[string]interface{}{"txn": v.ResponseTxn.Succeeded, "responses": len(v.ResponseTxn.Responses)})
		}
	}
	r.record("txn with a nested txn", map[string]interface{}{"succeeded": t.Succeeded, "rev": r.rev(t.Header.Revision), "responses": out})
	t, err = r.cli.Txn(c).If(clientv3.Compare(clientv3.ModRevision(p+"y"), "<", 2)).Then(clientv3.OpPut(p+"z", "no")).Else(clientv3.OpGet(p + "y")).Commit()
	must(err)
	r.record("txn else branch", map[string]interface{}{"succeeded": t.Succeeded, "rev": r.rev(t.Header.Revision), "y": r.kvs(t.Responses[0].GetResponseRange().Kvs)})
	_, err = r.cli.Txn(c).Then(clientv3.OpPut(p+"d", "1"), clientv3.OpPut(p+"d", "2")).Commit()
	r.record("duplicate key in txn", errText(err))
}

func (r *probe) leaseSteps() {
	c, cancel := ctx()
	defer cancel()
	p := r.p + "lease/"
	l, err := r.cli.Grant(c, 60)
	must(err)
	r.record("grant", map[string]interface{}{"id": r.lease(l.ID), "ttl": l.TTL})
	_, err = r.cli.Put(c, p+"k1", "v", clientv3.WithLease(l.ID))
	must(err)
	_, err = r.cli.Put(c, p+"k2", "v", clientv3.WithLease(l.ID))
	must(err)
	ttl, err := r.cli.TimeToLive(c, l.ID, clientv3.WithAttachedKeys())
	must(err)
	keys := []string{}
	for _, k := range ttl.Keys {
		keys = append(keys, string(k))
	}
	// etcd lists a lease's keys from a Go map: in no set order.
	sort.Strings(keys)
	r.record("time to live with keys", map[string]interface{}{"granted": ttl.GrantedTTL, "ttlAtLeast55": ttl.TTL >= 55, "keys": keys})
	ka, err := r.cli.KeepAliveOnce(c, l.ID)
	must(err)
	r.record("keep alive once", map[string]interface{}{"id": r.lease(ka.ID), "ttl": ka.TTL})
	kch, err := r.cli.KeepAlive(c, l.ID)
	must(err)
	first := <-kch
	r.record("keep alive stream", map[string]interface{}{"id": r.lease(first.ID), "ttl": first.TTL})
	ls, err := r.cli.Leases(c)
	must(err)
	found := false
	for _, s := range ls.Leases {
		found = found || s.ID == l.ID
	}
	r.record("listed", found)
	_, err = r.cli.Put(c, p+"k3", "v", clientv3.WithLease(0x7fff0001))
	r.record("put on a missing lease", errText(err))
	rv, err := r.cli.Revoke(c, l.ID)
	must(err)
	g, err := r.cli.Get(c, p, clientv3.WithPrefix())
	must(err)
	r.record("revoked", map[string]interface{}{"rev": r.rev(rv.Header.Revision), "left": r.kvs(g.Kvs)})
	ttl, err = r.cli.TimeToLive(c, l.ID)
	r.record("time to live after revoke", map[string]interface{}{"ttl": ttl.TTL, "err": errText(err)})
	_, err = r.cli.Revoke(c, l.ID)
	r.record("revoke twice", errText(err))
	_, err = r.cli.KeepAliveOnce(c, l.ID)
	r.record("keep alive a revoked lease", errText(err))
	_, err = r.cli.Grant(c, 9000000001)
	r.record("grant too long", errText(err))
}

func collect(wch clientv3.WatchChan, n int) ([]*clientv3.Event, []clientv3.WatchResponse) {
	evs := []*clientv3.Event{}
	resps := []clientv3.WatchResponse{}
	timeout := time.After(10 * time.Second)
	for len(evs) < n {
		select {
		case wr, ok := <-wch:
			if !ok {
				return evs, resps
			}
			resps = append(resps, wr)
			evs = append(evs, wr.Events...)
			if wr.Canceled {
				return evs, resps
			}
		case <-timeout:
			return evs, resps
		}
	}
	return evs, resps
}

func (r *probe) watchSteps() {
	c, cancel := ctx()
	defer cancel()
	p := r.p + "watch/"
	start, err := r.cli.Put(c, p+"a", "1")
	must(err)
	_, err = r.cli.Put(c, p+"b", "1")
	must(err)
	_, err = r.cli.Put(c, p+"a", "2")
	must(err)
	_, err = r.cli.Delete(c, p+"b")
	must(err)
	wc, wcancel := context.WithCancel(clientv3.WithRequireLeader(c))
	defer wcancel()
	evs, _ := collect(r.cli.Watch(wc, p, clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision), clientv3.WithPrevKV()), 4)
	r.record("watch history with prevKV", r.events(evs))
	live := r.cli.Watch(wc, p+"a", clientv3.WithFilterPut(), clientv3.WithRev(start.Header.Revision+4))
	_, err = r.cli.Put(c, p+"a", "3")
	must(err)
	_, err = r.cli.Delete(c, p+"a")
	must(err)
	evs, _ = collect(live, 1)
	r.record("watch without puts", r.events(evs))
}

func (r *probe) mutexSteps() {
	c, cancel := ctx()
	defer cancel()
	p := r.p + "mutex"
	s1, err := concurrency.NewSession(r.cli, concurrency.WithTTL(30))
	must(err)
	defer s1.Close()
	s2, err := concurrency.NewSession(r.cli, concurrency.WithTTL(30))
	must(err)
	defer s2.Close()
	r.lease(s1.Lease())
	r.lease(s2.Lease())
	m1 := concurrency.NewMutex(s1, p)
	m2 := concurrency.NewMutex(s2, p)
	must(m1.Lock(c))
	r.record("first lock", map[string]interface{}{"key": r.key([]byte(m1.Key())), "rev": r.rev(m1.Header().Revision)})
	now, err := r.cli.Get(c, "probe-base")
	must(err)
	wch := r.cli.Watch(c, p+"/", clientv3.WithPrefix(), clientv3.WithRev(now.Header.Revision+1))
	done := make(chan error, 1)
	go func() { done <- m2.Lock(c) }()
	r.nextPut(wch)
	g, err := r.cli.Get(c, p+"/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	must(err)
	r.record("queue", r.kvs(g.Kvs))
	t, err := r.cli.Txn(c).If(m1.IsOwner()).Then(clientv3.OpPut(p+"-guarded", "x")).Commit()
	must(err)
	r.record("txn guarded by the holder", t.Succeeded)
	must(m1.Unlock(c))
	must(<-done)
	r.record("second lock after unlock", map[string]interface{}{"key": r.key([]byte(m2.Key())), "rev": r.rev(m2.Header().Revision)})
	must(m2.Unlock(c))

	lc := v3lockpb.NewLockClient(r.cli.ActiveConnection())
	lr, err := lc.Lock(c, &v3lockpb.LockRequest{Name: []byte(p + "-svc"), Lease: int64(s1.Lease())})
	must(err)
	r.record("lock service", map[string]interface{}{"key": r.key(lr.Key), "rev": r.rev(lr.Header.Revision)})
	ur, err := lc.Unlock(c, &v3lockpb.UnlockRequest{Key: lr.Key})
	must(err)
	r.record("unlock service", r.rev(ur.Header.Revision))
	_, err = lc.Lock(c, &v3lockpb.LockRequest{Name: []byte(p + "-svc"), Lease: 0x7fff0002})
	r.record("lock service on a missing lease", errText(err))
}

func (r *probe) electionSteps() {
	c, cancel := ctx()
	defer cancel()
	p := r.p + "election"
	s1, err := concurrency.NewSession(r.cli, concurrency.WithTTL(30))
	must(err)
	defer s1.Close()
	s2, err := concurrency.NewSession(r.cli, concurrency.WithTTL(30))
	must(err)
	defer s2.Close()
	r.lease(s1.Lease())
	r.lease(s2.Lease())
	e1 := concurrency.NewElection(s1, p)
	e2 := concurrency.NewElection(s2, p)
	_, err = e1.Leader(c)
	r.record("no leader", errText(err))
	must(e1.Campaign(c, "one"))
	r.record("campaign", map[string]interface{}{"key": r.key([]byte(e1.Key())), "rev": r.rev(e1.Rev()), "header": r.rev(e1.Header().Revision)})
	oc, ocancel := context.WithCancel(c)
	defer ocancel()
	observed := e2.Observe(oc)
	first := <-observed
	now, err := r.cli.Get(c, "probe-base")
	must(err)
	wch := r.cli.Watch(c, p+"/", clientv3.WithPrefix(), clientv3.WithRev(now.Header.Revision+1))
	done := make(chan error, 1)
	go func() { done <- e2.Campaign(c, "two") }()
	r.nextPut(wch)
	must(e1.Proclaim(c, "one again"))
	must(e1.Resign(c))
	must(<-done)
	values := []string{string(first.Kvs[0].Value)}
	timeout := time.After(10 * time.Second)
	for len(values) < 3 {
		select {
		case resp := <-observed:
			values = append(values, string(resp.Kvs[0].Value))
		case <-timeout:
			values = append(values, "(timed out)")
		}
	}
	r.record("observed", values)
	l, err := e2.Leader(c)
	must(err)
	r.record("leader", r.kvs(l.Kvs))
	r.record("second campaign header", r.rev(e2.Header().Revision))
	r.record("stale proclaim", errText(e1.Proclaim(c, "stale")))

	ec := v3electionpb.NewElectionClient(r.cli.ActiveConnection())
	_, err = ec.Leader(c, &v3electionpb.LeaderRequest{Name: []byte(p + "-svc")})
	r.record("election service: no leader", errText(err))
	cr, err := ec.Campaign(c, &v3electionpb.CampaignRequest{Name: []byte(p + "-svc"), Lease: int64(s1.Lease()), Value: []byte("v")})
	must(err)
	r.record("election service: campaign", map[string]interface{}{"key": r.key(cr.Leader.Key), "rev": r.rev(cr.Leader.Rev), "header": r.rev(cr.Header.Revision)})
	stale := *cr.Leader
	stale.Rev++
	_, err = ec.Proclaim(c, &v3electionpb.ProclaimRequest{Leader: &stale, Value: []byte("w")})
	r.record("election service: stale proclaim", errText(err))
	_, err = ec.Resign(c, &v3electionpb.ResignRequest{Leader: cr.Leader})
	r.record("election service: resign", errText(err))
	_, err = ec.Campaign(c, &v3electionpb.CampaignRequest{Name: []byte(p + "-svc"), Lease: 0x7fff0003, Value: []byte("v")})
	r.record("election service: campaign on a missing lease", errText(err))
	must(e2.Resign(c))
}

// stmSteps runs a transfer whose first attempt sees another client write a key it reads:
// how many attempts each isolation level takes, and what it wrote.
func (r *probe) stmSteps() {
	for _, iso := range []struct {
		name  string
		level concurrency.Isolation
	}{{"serializable snapshot", concurrency.SerializableSnapshot}, {"serializable", concurrency.Serializable}, {"repeatable reads", concurrency.RepeatableReads}, {"read committed", concurrency.ReadCommitted}} {
		c, cancel := ctx()
		p := r.p + "stm/" + strings.ReplaceAll(iso.name, " ", "-") + "/"
		_, err := r.cli.Put(c, p+"a", "100")
		must(err)
		_, err = r.cli.Put(c, p+"b", "0")
		must(err)
		attempts := 0
		seen := []string{}
		resp, err := concurrency.NewSTM(r.cli, func(s concurrency.STM) error {
			attempts++
			if attempts > 5 {
				return errors.New("too many attempts")
			}
			a, _ := strconv.Atoi(s.Get(p + "a"))
			if attempts == 1 {
				if _, err := r.cli.Put(c, p+"b", "10"); err != nil {
					return err
				}
			}
			b, _ := strconv.Atoi(s.Get(p + "b"))
			seen = append(seen, fmt.Sprintf("a=%d b=%d", a, b))
			s.Put(p+"a", strconv.Itoa(a-30))
			s.Put(p+"b", strconv.Itoa(b+30))
			return nil
		}, concurrency.WithIsolation(iso.level), concurrency.WithAbortContext(c))
		g, gerr := r.cli.Get(c, p, clientv3.WithPrefix())
		must(gerr)
		out := map[string]interface{}{"attempts": attempts, "seen": seen, "err": errText(err), "store": r.kvs(g.Kvs)}
		if resp != nil {
			out["succeeded"] = resp.Succeeded
		}
		r.record("stm "+iso.name, out)
		cancel()
	}
}

func (r *probe) namespaceSteps() {
	c, cancel := ctx()
	defer cancel()
	p := r.p + "ns/"
	kv := namespace.NewKV(r.cli.KV, p)
	w := namespace.NewWatcher(r.cli.Watcher, p)
	lease := namespace.NewLease(r.cli.Lease, p)
	start, err := kv.Put(c, "k1", "v1")
	must(err)
	_, err = kv.Put(c, "k2", "v2")
	must(err)
	g, err := kv.Get(c, "k", clientv3.WithPrefix())
	must(err)
	r.record("namespace get all", r.kvs(g.Kvs))
	t, err := kv.Txn(c).If(clientv3.Compare(clientv3.Value("k1"), "=", "v1")).Then(clientv3.OpPut("k3", "v3"), clientv3.OpGet("k", clientv3.WithPrefix())).Commit()
	must(err)
	r.record("namespace txn", map[string]interface{}{"succeeded": t.Succeeded, "range": r.kvs(t.Responses[1].GetResponseRange().Kvs)})
	raw, err := r.cli.Get(c, p, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	must(err)
	r.record("raw keys", r.kvs(raw.Kvs))
	l, err := lease.Grant(c, 60)
	must(err)
	_, err = kv.Put(c, "leased", "x", clientv3.WithLease(l.ID))
	must(err)
	ttl, err := lease.TimeToLive(c, l.ID, clientv3.WithAttachedKeys())
	must(err)
	keys := []string{}
	for _, k := range ttl.Keys {
		keys = append(keys, string(k))
	}
	r.record("namespace lease keys", keys)
	_, err = lease.Revoke(c, l.ID)
	must(err)
	evs, _ := collect(w.Watch(c, "k", clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision)), 3)
	r.record("namespace watch", r.events(evs))
}

func (r *probe) mirrorSteps() {
	c, cancel := ctx()
	defer cancel()
	p := r.p + "mirror/"
	for i := 0; i < 5; i++ {
		_, err := r.cli.Put(c, p+strconv.Itoa(i), strconv.Itoa(i*i))
		must(err)
	}
	s := mirror.NewSyncer(r.cli, p, 0)
	rch, ech := s.SyncBase(c)
	base := []interface{}{}
	for g := range rch {
		base = append(base, r.kvs(g.Kvs)...)
	}
	var err error
	select {
	case err = <-ech:
	default:
	}
	r.record("mirror base", map[string]interface{}{"kvs": base, "err": errText(err)})
	updates := s.SyncUpdates(c)
	_, err = r.cli.Put(c, p+"new", "n")
	must(err)
	_, err = r.cli.Delete(c, p+"0")
	must(err)
	evs, _ := collect(updates, 2)
	r.record("mirror updates", r.events(evs))
}

// compactionSteps go last: they compact the whole store.
func (r *probe) compactionSteps() {
	c, cancel := ctx()
	defer cancel()
	p := r.p + "compact/"
	first, err := r.cli.Put(c, p+"k", "1")
	must(err)
	second, err := r.cli.Put(c, p+"k", "2")
	must(err)
	_, err = r.cli.Compact(c, second.Header.Revision, clientv3.WithCompactPhysical())
	r.record("compact", errText(err))
	_, err = r.cli.Get(c, p+"k", clientv3.WithRev(first.Header.Revision))
	r.record("get a compacted revision", errText(err))
	_, err = r.cli.Compact(c, first.Header.Revision)
	r.record("compact again lower", errText(err))
	_, resps := collect(r.cli.Watch(c, p+"k", clientv3.WithRev(first.Header.Revision)), 1)
	out := []interface{}{}
	for _, wr := range resps {
		out = append(out, map[string]interface{}{"canceled": wr.Canceled, "compactRevision": r.rev(wr.CompactRevision), "err": errText(wr.Err())})
	}
	r.record("watch from a compacted revision", out)
}

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "the server")
	prefix := flag.String("prefix", "go-client/", "the key prefix to work under")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 10 * time.Second})
	must(err)
	defer cli.Close()
	c, cancel := ctx()
	g, err := cli.Get(c, "probe-base")
	cancel()
	must(err)
	r := &probe{cli: cli, p: *prefix, base: g.Header.Revision, leases: map[clientv3.LeaseID]string{}}
	for _, part := range []struct {
		name string
		run  func()
	}{{"kv", r.kvSteps}, {"txn", r.txnSteps}, {"lease", r.leaseSteps}, {"watch", r.watchSteps}, {"mutex", r.mutexSteps}, {"election", r.electionSteps}, {"stm", r.stmSteps}, {"namespace", r.namespaceSteps}, {"mirror", r.mirrorSteps}, {"compaction", r.compactionSteps}} {
		func() {
			defer func() {
				if e := recover(); e != nil {
					r.record(part.name+" failed", fmt.Sprint(e))
				}
			}()
			part.run()
		}()
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	must(enc.Encode(map[string]interface{}{"steps": r.steps}))
}
