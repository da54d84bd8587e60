// schema_dump: print, as one JSON document, what Newtonsoft.Json's contract resolver makes of every
// CFX message and every type reachable from one: member order, names, declared types, converters,
// TypeNameHandling settings, and each class's default-constructed JSON. Input for generate.py.
//
// Written for linegate; contains no SDK code. Build against the CFX.dll that
// shared/tools/cfx-sdk/build.sh produces:
//   mcs -out:schema_dump.exe -r:Newtonsoft.Json.dll -r:CFX.dll -r:System.Runtime.Serialization.dll schema_dump.cs
using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.Serialization;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;
using Newtonsoft.Json.Serialization;
using CFX;

public static class SchemaDump
{
    static DefaultContractResolver resolver;
    static List<Type> all;
    static readonly Dictionary<Type, JObject> seen = new Dictionary<Type, JObject>();
    static readonly Queue<Type> todo = new Queue<Type>();

    public static int Main()
    {
        CFX.Utilities.CFXJsonSerializer.JsonSettings.TypeNameHandling = TypeNameHandling.Auto;
        CFX.Utilities.CFXJsonSerializer.JsonSettings.TypeNameAssemblyFormatHandling = TypeNameAssemblyFormatHandling.Simple;
        resolver = (DefaultContractResolver)JsonSerializer.Create(CFX.Utilities.CFXJsonSerializer.JsonSettings).ContractResolver;
        try { all = typeof(CFXMessage).Assembly.GetTypes().ToList(); }
        catch (ReflectionTypeLoadException ex) { all = ex.Types.Where(x => x != null).ToList(); }
        var messages = all.Where(t => t.IsClass && t.IsPublic && !t.IsAbstract && typeof(CFXMessage).IsAssignableFrom(t) && t != typeof(CFXMessage))
                          .OrderBy(t => t.FullName, StringComparer.Ordinal).ToList();
        foreach (var m in messages) Enqueue(m);
        Enqueue(typeof(CFXEnvelope));
        while (todo.Count > 0) Describe(todo.Dequeue());
        var root = new JObject();
        root["messages"] = new JArray(messages.Select(m => m.FullName));
        var types = new JObject();
        foreach (var kv in seen.OrderBy(kv => kv.Key.FullName, StringComparer.Ordinal)) types[kv.Key.FullName] = kv.Value;
        root["types"] = types;
        Console.Out.Write(root.ToString(Formatting.Indented));
        return 0;
    }

    static void Enqueue(Type t)
    {
        if (t == null || seen.ContainsKey(t) || t.Assembly != typeof(CFXMessage).Assembly) return;
        seen[t] = null;
        todo.Enqueue(t);
        if (t.IsClass)
            foreach (var s in all.Where(x => x != t && x.IsClass && x.IsPublic && t.IsAssignableFrom(x)))
                Enqueue(s);
    }

    static JToken Ref(Type t)
    {
        Type u = Nullable.GetUnderlyingType(t);
        if (u != null) return new JObject { ["k"] = "nullable", ["of"] = Ref(u) };
        if (t.IsArray && t != typeof(byte[])) return new JObject { ["k"] = "list", ["of"] = Ref(t.GetElementType()) };
        if (t.IsGenericType)
        {
            Type gd = t.GetGenericTypeDefinition();
            Type[] ga = t.GetGenericArguments();
            if (gd == typeof(Dictionary<,>) || gd == typeof(IDictionary<,>))
                return new JObject { ["k"] = "dict", ["key"] = Ref(ga[0]), ["value"] = Ref(ga[1]) };
            if (typeof(IEnumerable).IsAssignableFrom(t) && ga.Length == 1)
                return new JObject { ["k"] = "list", ["of"] = Ref(ga[0]), ["generic"] = gd.Name };
            return new JObject { ["k"] = "unsupported", ["name"] = t.FullName };
        }
        if (t.Assembly == typeof(CFXMessage).Assembly)
        {
            Enqueue(t);
            return new JObject { ["k"] = t.IsEnum ? "enum" : "class", ["name"] = t.FullName };
        }
        return new JObject { ["k"] = "prim", ["name"] = t == typeof(byte[]) ? "byte[]" : t.FullName };
    }

    static string Handling(TypeNameHandling? h) { return h.HasValue ? h.Value.ToString() : null; }

    static void Describe(Type t)
    {
        var o = new JObject();
        seen[t] = o;
        if (t.IsEnum)
        {
            o["kind"] = "enum";
            var contract = resolver.ResolveContract(t);
            o["converter"] = contract.Converter == null ? null : contract.Converter.GetType().Name;
            o["flags"] = t.GetCustomAttributes(typeof(FlagsAttribute), false).Length > 0;
            var members = new JArray();
            foreach (var f in t.GetFields(BindingFlags.Public | BindingFlags.Static))
            {
                var em = (EnumMemberAttribute)f.GetCustomAttributes(typeof(EnumMemberAttribute), false).FirstOrDefault();
                members.Add(new JObject
                {
                    ["name"] = f.Name,
                    ["value"] = Convert.ToInt64(f.GetRawConstantValue()),
                    ["wire"] = em == null ? null : em.Value,
                });
            }
            o["members"] = members;
            return;
        }
        o["kind"] = "class";
        o["base"] = t.BaseType != null && t.BaseType.Assembly == t.Assembly ? t.BaseType.FullName : null;
        if (t.BaseType != null && t.BaseType.Assembly == t.Assembly) Enqueue(t.BaseType);
        o["abstract"] = t.IsAbstract;
        o["public"] = t.IsPublic;
        o["creatable"] = !t.IsAbstract && t.GetConstructor(Type.EmptyTypes) != null;
        var oc = resolver.ResolveContract(t) as JsonObjectContract;
        if (oc == null) { o["contract"] = resolver.ResolveContract(t).GetType().Name; return; }
        o["item_type_name_handling"] = Handling(oc.ItemTypeNameHandling);
        o["item_null_value_handling"] = oc.ItemNullValueHandling.HasValue ? oc.ItemNullValueHandling.Value.ToString() : null;
        o["member_serialization"] = oc.MemberSerialization.ToString();
        var props = new JArray();
        foreach (JsonProperty p in oc.Properties)
        {
            if (p.Ignored) continue;
            MemberInfo mi = t.GetMember(p.UnderlyingName, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance).FirstOrDefault();
            props.Add(new JObject
            {
                ["name"] = p.PropertyName,
                ["member"] = p.UnderlyingName,
                ["field"] = mi is FieldInfo,
                ["declared_in"] = p.DeclaringType.FullName,
                ["type"] = Ref(p.PropertyType),
                ["readable"] = p.Readable,
                ["should_serialize"] = p.ShouldSerialize != null,
                ["writable"] = p.Writable,
                ["converter"] = p.Converter == null ? null : p.Converter.GetType().Name,
                ["item_converter"] = p.ItemConverter == null ? null : p.ItemConverter.GetType().Name,
                ["type_name_handling"] = Handling(p.TypeNameHandling),
                ["item_type_name_handling"] = Handling(p.ItemTypeNameHandling),
                ["null_value_handling"] = p.NullValueHandling.HasValue ? p.NullValueHandling.Value.ToString() : null,
                ["default_value_handling"] = p.DefaultValueHandling.HasValue ? p.DefaultValueHandling.Value.ToString() : null,
                ["order"] = p.Order,
            });
        }
        o["members"] = props;
        if ((bool)o["creatable"])
        {
            try
            {
                string a = CFX.Utilities.CFXJsonSerializer.SerializeObject(Activator.CreateInstance(t));
                System.Threading.Thread.Sleep(2);
                string b = CFX.Utilities.CFXJsonSerializer.SerializeObject(Activator.CreateInstance(t));
                o["default"] = JToken.Parse(a);
                if (a != b) o["default_again"] = JToken.Parse(b);
            }
            catch (Exception ex) { o["default_error"] = ex.GetType().Name + ": " + ex.Message; }
        }
    }
}
