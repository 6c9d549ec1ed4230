package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// ds is the Prometheus data source every panel and variable queries: the
// dashboard's own datasource variable, so the JSON imports and provisions
// into any Grafana whatever its data source is called.
var ds = common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("${datasource}")}

func ptr[T any](v T) *T { return &v }

// newDashboard starts a dashboard with Axon's common settings and the
// datasource variable.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"axon", "generated"}).
		Editable().
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Prometheus").
			Type("prometheus"))
}

// labelVar is a multi-value variable listing the values of label on the
// series of selector (Grafana's label_values), "All" matching any value.
func labelVar(name, label, selector, labelName string) *dashboard.QueryVariableBuilder {
	q := "label_values(" + selector + ", " + labelName + ")"
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(ds).
		Query(dashboard.StringOrMap{String: ptr(q)}).
		Definition(q).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*")
}

// query is a range query drawn as a time series with a legend.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds).Expr(expr).LegendFormat(legend).Range()
}

// instant is an instant query shown as a table (one row per series).
func instant(expr, ref string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds).Expr(expr).RefId(ref).
		Instant().Format(prometheus.PromQueryFormatTable)
}

// graph is a time-series panel of queries.
func graph(title, desc, unit string, w uint32, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(ds).
		Unit(unit).Min(0).Span(w).Height(8).FillOpacity(10)
	for _, q := range qs {
		p.WithTarget(q)
	}
	return p
}

// single is a stat panel of one query, red from threshold red upward (or
// never, when red is 0).
func single(title, desc, unit string, red float64, q *prometheus.DataqueryBuilder) *stat.PanelBuilder {
	steps := []dashboard.Threshold{{Value: nil, Color: "green"}}
	if red > 0 {
		steps = append(steps, dashboard.Threshold{Value: ptr(red), Color: "red"})
	}
	return stat.NewPanelBuilder().Title(title).Description(desc).Datasource(ds).Unit(unit).
		Span(6).Height(4).WithTarget(q).
		ColorMode(common.BigValueColorModeBackground).
		Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps))
}

// tableOf is a table of instant queries; several queries are merged into
// one row per label set. hide lists label columns not shown.
func tableOf(title, desc string, hide []string, rename map[string]string, qs ...*prometheus.DataqueryBuilder) *table.PanelBuilder {
	p := table.NewPanelBuilder().Title(title).Description(desc).Datasource(ds).Span(24).Height(10)
	for _, q := range qs {
		p.WithTarget(q)
	}
	if len(qs) > 1 {
		p.WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}})
	}
	exclude := map[string]bool{"Time": true}
	for _, h := range hide {
		exclude[h] = true
	}
	return p.WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
		"excludeByName": exclude, "renameByName": rename,
	}})
}
