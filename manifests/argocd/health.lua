-- Argo CD health check for serving.tfmodel.io/TFModel, the same verdict kstatus (Flux, kpt)
-- reaches: Stalled -> Degraded, Reconciling -> Progressing, Ready -> Healthy.
-- Install: argocd-cm.yaml in this directory (resource.customizations.health.serving.tfmodel.io_TFModel).
local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
local conditions = {}
for _, condition in ipairs(obj.status.conditions) do
  conditions[condition.type] = condition
end
local function say(condition)
  local message = condition.message or ""
  if message == "" then
    return condition.reason or condition.type
  end
  return (condition.reason or condition.type) .. ": " .. message
end
local stalled = conditions["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = say(stalled)
  return hs
end
local reconciling = conditions["Reconciling"]
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = say(reconciling)
  return hs
end
local ready = conditions["Ready"]
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = say(ready)
  return hs
end
hs.status = "Progressing"
hs.message = ready ~= nil and say(ready) or "Waiting for the Ready condition"
return hs
