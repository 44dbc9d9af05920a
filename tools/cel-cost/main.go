// Command cel-cost measures what a MutatingAdmissionPolicy's CEL costs the API server for a
// large Pod, with the API server's own code: the policy's variables and JSON patch are compiled
// as the mutating admission plugin compiles them (k8s.io/apiserver's composited compiler, the
// base environment of the pinned release) and the patch is run by the plugin's JSON patcher
// under a cost budget. The smallest budget under which the patch succeeds is the runtime cost
// the API server charges (variables are charged when the patch first reads them).
//
//	cel-cost -policy FILE [-containers 64] [-init 16] [-ephemeral 16]
//
// FILE is the output of `pullthrough manifests --admission-policy` (the policy and its
// binding). The Pod's images are distinct Docker Hub references with a tag and a digest, so
// every one is rewritten under the default settings, and the Pod carries kubectl's
// last-applied-configuration annotation, as an applied Pod does. It prints one JSON line per
// request (a CREATE, and an UPDATE that changes one image) with the cost of the patch and of the
// match conditions (each has a budget of its own) and the limits: PerCallLimit for any one
// expression, RuntimeCELCostBudget for each budget. It exits 1 when a match condition does not
// hold or the patch does not succeed within the budget.
//
// Admission policies get no estimated-cost check when they are created (the API server only
// compiles them), so the runtime cost of a worst case is what can fail an admission.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/google/cel-go/common/types"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/mutating/patch"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"
)

var podGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
var podGVK = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}

// readPolicy returns the MutatingAdmissionPolicy among the YAML documents of path.
func readPolicy(path string) (*admissionregistrationv1.MutatingAdmissionPolicy, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for _, doc := range strings.Split(string(text), "\n---\n") {
		var policy admissionregistrationv1.MutatingAdmissionPolicy
		if err := yaml.UnmarshalStrict([]byte(doc), &policy); err != nil || policy.Kind != "MutatingAdmissionPolicy" {
			continue
		}
		return &policy, nil
	}
	return nil, fmt.Errorf("%s holds no MutatingAdmissionPolicy", path)
}

// compiled is the policy's JSON patcher, its match conditions and the compiler holding its
// variables.
type compiled struct {
	patcher    patch.Patcher
	conditions plugincel.ConditionEvaluator
	compiler   *plugincel.CompositedCompiler
}

// matchCost is what the match conditions cost (the plugin's matcher runs them under a budget of
// their own), or an error unless every one holds: the patch runs only then.
func (c compiled) matchCost(r patch.Request) (int64, error) {
	attrs := r.VersionedAttributes
	request := plugincel.CreateAdmissionRequest(attrs.Attributes, metav1.GroupVersionResource(podGVR),
		metav1.GroupVersionKind(podGVK))
	results, remaining, err := c.conditions.ForInput(c.compiler.CreateContext(context.Background()), attrs,
		request, r.OptionalVariables, nil, celconfig.RuntimeCELCostBudget)
	if err != nil {
		return 0, err
	}
	for _, result := range results {
		if result.Error != nil {
			return 0, result.Error
		}
		if result.EvalResult != types.True {
			return 0, fmt.Errorf("match condition %q is %v", result.ExpressionAccessor.GetExpression(), result.EvalResult)
		}
	}
	return celconfig.RuntimeCELCostBudget - remaining, nil
}

// patch runs the patch under budget in a fresh composition context, as the plugin's dispatcher
// gives each invocation one (variables are evaluated once per context).
func (c compiled) patch(r patch.Request, budget int64) (runtime.Object, error) {
	return c.patcher.Patch(c.compiler.CreateContext(context.Background()), r, budget)
}

// compile builds the policy's JSON patcher as the mutating admission plugin does
// (compilePolicy in k8s.io/apiserver/pkg/admission/plugin/policy/mutating).
func compile(policy *admissionregistrationv1.MutatingAdmissionPolicy) (compiled, error) {
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		return compiled{}, err
	}
	opts := plugincel.OptionalVariableDeclarations{HasParams: policy.Spec.ParamKind != nil, HasAuthorizer: true}
	variables := make([]plugincel.NamedExpressionAccessor, len(policy.Spec.Variables))
	for i, v := range policy.Spec.Variables {
		variables[i] = &validating.Variable{Name: v.Name, Expression: v.Expression}
	}
	compiler.CompileAndStoreVariables(variables, opts, environment.StoredExpressions)
	conditions := make([]plugincel.ExpressionAccessor, len(policy.Spec.MatchConditions))
	for i := range policy.Spec.MatchConditions {
		conditions[i] = (*matchconditions.MatchCondition)(&policy.Spec.MatchConditions[i])
	}
	if len(policy.Spec.Mutations) != 1 || policy.Spec.Mutations[0].JSONPatch == nil {
		return compiled{}, fmt.Errorf("expected one JSONPatch mutation, got %d mutations", len(policy.Spec.Mutations))
	}
	patchOpts := opts
	patchOpts.HasPatchTypes = true
	evaluator := compiler.CompileMutatingEvaluator(
		&patch.JSONPatchCondition{Expression: policy.Spec.Mutations[0].JSONPatch.Expression},
		patchOpts, environment.StoredExpressions)
	if errs := evaluator.CompilationErrors(); len(errs) > 0 {
		return compiled{}, fmt.Errorf("the patch does not compile: %v", errs)
	}
	return compiled{
		patcher:    patch.NewJSONPatcher(evaluator),
		conditions: compiler.CompileCondition(conditions, opts, environment.StoredExpressions),
		compiler:   compiler,
	}, nil
}

// image is the i-th distinct image: a Docker Hub reference of realistic length with both a
// tag and a digest.
func image(i int) string {
	return fmt.Sprintf("docker.io/example-organisation-%02d/service-component-%03d:v1.%d.0-build.%04d@sha256:%064x",
		i%8, i, i%10, i, i+1)
}

func containers(prefix string, n, start int) []corev1.Container {
	out := make([]corev1.Container, n)
	for i := range out {
		out[i] = corev1.Container{Name: fmt.Sprintf("%s-%02d", prefix, i), Image: image(start + i)}
	}
	return out
}

// pod is the Pod of the measurement, with the annotation kubectl apply adds (the whole object
// as JSON), which the policy reads when it sizes the annotations.
func pod(main, init, ephemeral int) (*corev1.Pod, error) {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "large", Namespace: "apps", Labels: map[string]string{"app": "large"}},
		Spec: corev1.PodSpec{
			InitContainers: containers("init", init, 0),
			Containers:     containers("main", main, init),
		},
	}
	for _, c := range containers("debug", ephemeral, init+main) {
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers,
			corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image}})
	}
	applied, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	p.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(applied)}
	return p, nil
}

// request is the patcher's view of a Pod CREATE or UPDATE.
func request(scheme *runtime.Scheme, object, old *corev1.Pod) patch.Request {
	operation, options := admission.Create, runtime.Object(&metav1.CreateOptions{})
	var oldObject runtime.Object
	if old != nil {
		operation, options, oldObject = admission.Update, &metav1.UpdateOptions{}, old
	}
	attrs := admission.NewAttributesRecord(object, oldObject, podGVK, object.Namespace, object.Name,
		podGVR, "", operation, options, false, nil)
	return patch.Request{
		MatchedResource: podGVR,
		VersionedAttributes: &admission.VersionedAttributes{
			Attributes:         attrs,
			VersionedKind:      podGVK,
			VersionedObject:    admission.NewLazyObject(object),
			VersionedOldObject: admission.NewLazyObject(oldObject),
		},
		ObjectInterfaces:  admission.NewObjectInterfacesFromScheme(scheme),
		OptionalVariables: plugincel.OptionalVariableBindings{},
	}
}

// cost is the smallest budget under which the patch succeeds, and the patched Pod.
func cost(policy compiled, r patch.Request) (int64, *corev1.Pod, error) {
	if _, err := policy.matchCost(r); err != nil {
		return 0, nil, fmt.Errorf("the policy would not run: %w", err)
	}
	patched, err := policy.patch(r, celconfig.RuntimeCELCostBudget)
	if err != nil {
		return 0, nil, fmt.Errorf("the patch fails within the API server's budget of %d: %w",
			celconfig.RuntimeCELCostBudget, err)
	}
	low, high := int64(0), int64(celconfig.RuntimeCELCostBudget)
	for low < high {
		mid := low + (high-low)/2
		if _, err := policy.patch(r, mid); err == nil {
			high = mid
		} else {
			low = mid + 1
		}
	}
	result, ok := patched.(*corev1.Pod)
	if !ok {
		return 0, nil, fmt.Errorf("the patch returned a %T", patched)
	}
	return low, result, nil
}

// rewritten counts the images the patch changed.
func rewritten(before, after *corev1.Pod) int {
	images := func(p *corev1.Pod) []string {
		var out []string
		for _, c := range p.Spec.InitContainers {
			out = append(out, c.Image)
		}
		for _, c := range p.Spec.Containers {
			out = append(out, c.Image)
		}
		for _, c := range p.Spec.EphemeralContainers {
			out = append(out, c.Image)
		}
		return out
	}
	b, a, n := images(before), images(after), 0
	for i := range b {
		if i < len(a) && a[i] != b[i] {
			n++
		}
	}
	return n
}

func run() error {
	policyPath := flag.String("policy", "", "the output of pullthrough manifests --admission-policy")
	main := flag.Int("containers", 64, "containers of the Pod")
	init := flag.Int("init", 16, "init containers of the Pod")
	ephemeral := flag.Int("ephemeral", 16, "ephemeral containers of the Pod")
	flag.Parse()
	if *policyPath == "" {
		return fmt.Errorf("-policy FILE is required")
	}
	policy, err := readPolicy(*policyPath)
	if err != nil {
		return err
	}
	compiledPolicy, err := compile(policy)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return err
	}
	created, err := pod(*main, *init, *ephemeral)
	if err != nil {
		return err
	}
	createRequest := request(scheme, created, nil)
	createCost, stored, err := cost(compiledPolicy, createRequest)
	if err != nil {
		return fmt.Errorf("CREATE: %w", err)
	}
	createMatch, _ := compiledPolicy.matchCost(createRequest)
	// An UPDATE of the stored Pod that changes one image: every container is compared with
	// the old object's.
	updated := stored.DeepCopy()
	updated.Spec.Containers[0].Image = image(1000)
	updateRequest := request(scheme, updated, stored)
	updateCost, updatedAfter, err := cost(compiledPolicy, updateRequest)
	if err != nil {
		return fmt.Errorf("UPDATE: %w", err)
	}
	updateMatch, _ := compiledPolicy.matchCost(updateRequest)
	var out bytes.Buffer
	for _, line := range []map[string]any{
		{"request": "CREATE", "imagesRewritten": rewritten(created, stored), "cost": createCost, "matchConditionsCost": createMatch},
		{"request": "UPDATE", "imagesRewritten": rewritten(updated, updatedAfter), "cost": updateCost, "matchConditionsCost": updateMatch},
	} {
		line["containers"], line["initContainers"], line["ephemeralContainers"] = *main, *init, *ephemeral
		line["perCallLimit"], line["runtimeBudget"] = celconfig.PerCallLimit, celconfig.RuntimeCELCostBudget
		encoded, err := json.Marshal(line)
		if err != nil {
			return err
		}
		out.Write(append(encoded, '\n'))
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cel-cost:", err)
		os.Exit(1)
	}
}
