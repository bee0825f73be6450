package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// statusReporter reports the receiver's status: recoverable while an
// exactly named interface is absent, an attach or read failed, or link
// changes or pods are not followed; OK once every configured interface is counted
// again. Every event carries, as the attribute "interfaces", where each
// interface is counted and why there, or what keeps it from being counted.
//
// A change of faults is reported as it happens; a change of hooks alone
// (interfaces attached or gone) at the next collection, so that a burst of
// new interfaces makes one report, not one each.
type statusReporter struct {
	host     component.Host
	faultKey string // the faults of the last report
	hooksKey string // the hooks of the last report
}

// update reports if the faults changed, or, with hooks, if anything did.
func (s *statusReporter) update(d *discovery, watchErr, podsErr error, hooks bool) {
	if s.host == nil {
		return
	}
	var fk strings.Builder
	var errs []error
	if watchErr != nil {
		fk.WriteString("watch;")
		errs = append(errs, watchErr)
	}
	if podsErr != nil {
		fk.WriteString("pods;")
		errs = append(errs, podsErr)
	}
	for _, name := range d.sortedNames() {
		if ifc := d.ifaces[name]; ifc.err != nil {
			fk.WriteString(name + ":" + ifc.fault.String() + ";")
			errs = append(errs, ifc.err)
		}
	}
	if !hooks && fk.String() == s.faultKey {
		return
	}
	var hk strings.Builder
	for _, name := range d.sortedNames() {
		hk.WriteString(name + "=" + describe(d.ifaces[name]) + ";")
	}
	if fk.String() == s.faultKey && hk.String() == s.hooksKey {
		return
	}
	s.faultKey, s.hooksKey = fk.String(), hk.String()
	attrs := pcommon.NewMap()
	described := attrs.PutEmptyMap("interfaces")
	for _, name := range d.sortedNames() {
		described.PutStr(name, describe(d.ifaces[name]))
	}
	if len(errs) == 0 {
		componentstatus.ReportStatus(s.host, componentstatus.NewEvent(componentstatus.StatusOK, componentstatus.WithAttributes(attrs)))
		return
	}
	componentstatus.ReportStatus(s.host, componentstatus.NewEvent(componentstatus.StatusRecoverableError,
		componentstatus.WithError(errors.Join(errs...)), componentstatus.WithAttributes(attrs)))
}

// describe says where an interface is counted, or why not, briefly:
// "receive: tcx (virtual interface (veth)), transmit: tcx (...)", or its
// state and fault kind.
func describe(ifc *iface) string {
	if ifc.state != stateAttached || !ifc.held {
		if ifc.fault != faultNone {
			return ifc.state.String() + ": " + ifc.fault.String()
		}
		return ifc.state.String()
	}
	var b strings.Builder
	for i, p := range ifc.tap.placements() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.dir.String() + ": " + p.Hook.String() + " (" + p.Reason + ")")
	}
	if ifc.fault != faultNone {
		b.WriteString("; " + ifc.fault.String())
	}
	return b.String()
}
